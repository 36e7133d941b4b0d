// A complete image-captioning app on the public SmolVLM API: load a model pair once, ask about
// an image, stream the answer, then ask a follow-up that reuses the conversation's KV cache.
//
//   swift run -c release smolvlm-example MODEL.gguf MMPROJ.gguf IMAGE.jpg
import Foundation
import SmolVLM

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 3 else {
    print("usage: smolvlm-example MODEL.gguf MMPROJ.gguf IMAGE")
    exit(2)
}
let paths = Array(arguments)

do {
    let model = try SmolVLMModel(model: paths[0], mmproj: paths[1])
    let session = try ChatSession(model: model)
    let options = GenerationOptions(maxTokens: 64, temperature: 0)

    let image = ImageInput.file(URL(fileURLWithPath: paths[2]))
    for try await piece in session.respond(to: UserMessage("Describe this image.", images: [image]), options: options) {
        print(piece, terminator: "")
    }
    print()

    let followUp = session.respond(to: "What colours stand out?", options: options)
    for try await piece in followUp { print(piece, terminator: "") }
    print()
    let result = try await followUp.result
    print("(\(result.timings.generatedTokens) tokens at \(Int(result.timings.decodeTokensPerSecond)) tokens/s; "
        + "\(result.timings.reusedPositions) positions reused from the first turn)")
} catch {
    print("error: \(error)")
    exit(1)
}
