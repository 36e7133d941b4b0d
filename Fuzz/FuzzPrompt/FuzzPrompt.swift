// libFuzzer target: chat-template detection and rendering, then image-prompt assembly with
// SmolVLM's tokenizer (loaded once from SMOLVLM_FUZZ_TOKENIZER, default
// models/smolvlm-256m-text-q8_0.gguf). Input: a flags byte, one byte per image grid, then
// NUL-separated fields: a template source for detection, then role-byte + content messages
// (byte 0x01 in content stands for the image marker, so markers and images can disagree).
// Checked: a prompt assembles to exactly its images' tiles, in order, with in-vocabulary text,
// or is refused with a typed error.
import Foundation
import FuzzSupport
import SmolVLM

private let tokenizer = loadTokenizer()
private let layout: ImagePromptLayout = {
    do { return try ImagePromptLayout(tokenizer: tokenizer) } catch { fatalError("fuzz-prompt: \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrompt(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let flags = data[0]
    let imageCount = Int(data[1] % 5)
    guard size >= 2 + imageCount else { return 0 }
    // Grids as the slicer makes them: 0 × 0 (unsliced) up to 4 × 4.
    let grids = (0 ..< imageCount).map { i in (x: Int(data[2 + i] % 5), y: Int(data[2 + i] / 5 % 5)) }
    let fields = UnsafeBufferPointer(start: data + 2 + imageCount, count: size - 2 - imageCount)
        .split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self).replacingOccurrences(of: "\u{1}", with: ImagePromptLayout.marker) }

    let template: ChatTemplate
    switch flags % 3 {
    case 0: template = .smolvlm
    case 1: template = .chatml
    default:
        guard let t = attempt({ try ChatTemplate.detect(fields.first) }) else { return 0 }
        template = t
    }
    let roles: [ChatTemplate.Role] = [.system, .user, .assistant]
    let messages = fields.dropFirst().map { field in
        ChatTemplate.Message(role: roles[Int(field.utf8.first ?? 0) % 3], content: String(field.dropFirst()))
    }
    let prompt = template.render(messages, addAssistantPrompt: flags & 4 != 0, dialect: flags & 8 != 0 ? .jinja : .builtIn)

    guard let chunks = attempt({ try layout.tokenize(prompt, grids: grids, addSpecial: flags & 16 != 0) }) else { return 0 }
    var tiles: [(image: Int, tile: Int)] = []
    for chunk in chunks {
        switch chunk {
        case let .text(tokens):
            require(!tokens.isEmpty, "empty text chunk")
            for t in tokens { require((0 ..< tokenizer.vocabularySize).contains(t), "token \(t) out of the vocabulary") }
        case let .image(image, tile):
            tiles.append((image, tile))
        }
    }
    let expected = grids.enumerated().flatMap { i, g in (0 ... g.x * g.y).map { (image: i, tile: $0) } }
    require(tiles.elementsEqual(expected, by: { $0 == $1 }), "tiles \(tiles) for grids \(grids)")
    return 0
}
