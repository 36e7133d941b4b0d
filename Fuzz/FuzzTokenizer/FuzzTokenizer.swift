// libFuzzer target: the tokenizer of SmolVLM (SmolLM2's BPE vocabulary plus the image tokens),
// loaded once from SMOLVLM_FUZZ_TOKENIZER (default models/smolvlm-256m-text-q8_0.gguf).
// The first byte picks the mode; the rest is text to encode (with special-token parsing on or
// off) or token ids to decode (in range or not). Checked: every id is in the vocabulary, text
// survives encode → decode, and streamed decoding equals decoding at once.
import Foundation
import FuzzSupport
import SmolVLM

private let tokenizer = loadTokenizer()

private func streamed(_ tokens: [Int], special: Bool) -> String {
    var decoder = tokenizer.streamingDecoder(special: special)
    var text = ""
    for t in tokens { text += decoder.append(t) }
    return text + decoder.finish()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let flags = data[0]
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let parseSpecial = flags & 1 != 0, addSpecial = flags & 2 != 0, special = flags & 4 != 0

    if flags & 8 == 0 {
        let text = String(decoding: rest, as: UTF8.self)
        let tokens = tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: parseSpecial)
        for t in tokens { require((0 ..< tokenizer.vocabularySize).contains(t), "token \(t) out of the vocabulary") }
        // Without parsing, every token is plain text or user-defined (always rendered), so the
        // bytes come back but those without a byte token (dropped, as llama.cpp drops them),
        // unless the model asks for clean-up passes that rewrite them.
        if !parseSpecial, !addSpecial, !tokenizer.cleanSpaces, !tokenizer.addSpacePrefix {
            let back = tokenizer.decodeBytes(tokens)
            require(back.elementsEqual(text.utf8.filter(tokenizer.hasByteToken)),
                    "\(text.debugDescription) decodes as \(String(decoding: back, as: UTF8.self).debugDescription)")
        }
        require(streamed(tokens, special: special) == tokenizer.decode(tokens, special: special), "streamed decoding differs")
    } else {
        // Ids as little-endian UInt16 − 1024: negatives, the whole vocabulary and ids past it.
        var tokens: [Int] = []
        var i = 0
        while i + 1 < rest.count {
            tokens.append(Int(UInt16(rest[i]) | UInt16(rest[i + 1]) << 8) - 1024)
            i += 2
        }
        let text = tokenizer.decode(tokens, special: special)
        require(streamed(tokens, special: special) == text, "streamed decoding differs")
        for t in tokens { _ = tokenizer.text(of: t); _ = tokenizer.attributes(of: t); _ = tokenizer.isEndOfGeneration(t) }
    }
    return 0
}
