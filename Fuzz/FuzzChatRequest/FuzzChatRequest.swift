// libFuzzer target: a `POST /v1/chat/completions` body as the server reads it: JSON → messages,
// image parts (data URIs, bare base64, URLs), sampling parameters, then each image's bytes
// through the decoder and the conversation through SmolVLM's template. Any body must end in a
// typed 400 (APIError) or a request whose images and markers agree.
import Foundation
import FuzzSupport
import OpenAIAPI
import SmolVLM

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    let request: ChatRequest
    do {
        request = try ChatRequest(json: body, defaults: GenerationOptions(), defaultMaxTokens: 20)
    } catch {
        require(error.status == 400, "a request body answered with \(error.status)")
        require(!error.message.isEmpty, "a 400 without a message")
        return 0
    }
    require(!request.messages.isEmpty, "a request without messages accepted")
    if let n = request.maxTokens { require(n >= 0, "negative max_tokens accepted") }
    let markers = request.messages.reduce(0) { $0 + $1.content.components(separatedBy: ImagePromptLayout.marker).count - 1 }
    require(markers >= request.images.count, "\(request.images.count) images but \(markers) markers")
    for case let .bytes(bytes) in request.images {
        if let image = attempt({ try ImageDecoder(maxPixels: 1 << 20).decode(data: bytes) }) {
            require(image.pixels.count == image.width * image.height * 3)
        }
    }
    _ = ChatTemplate.smolvlm.render(request.messages, dialect: .jinja)
    return 0
}
