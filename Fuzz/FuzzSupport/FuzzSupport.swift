// What the fuzz targets share: reporting a finding, and SmolVLM's tokenizer.
import Foundation
import GGUF
import SmolVLM

/// A finding: says what broke (an optimised build drops `precondition` messages), then traps so
/// libFuzzer saves the input.
public func require(_ condition: Bool, _ message: @autoclosure () -> String = "") {
    if !condition {
        FileHandle.standardError.write(Data("finding: \(message())\n".utf8))
        abort()
    }
}

/// SmolVLM's tokenizer (SmolLM2's BPE vocabulary plus the image tokens) from
/// SMOLVLM_FUZZ_TOKENIZER, default models/smolvlm-256m-text-q8_0.gguf; a target without it
/// cannot start.
public func loadTokenizer() -> Tokenizer {
    let path = ProcessInfo.processInfo.environment["SMOLVLM_FUZZ_TOKENIZER"] ?? "models/smolvlm-256m-text-q8_0.gguf"
    do {
        return try Tokenizer(gguf: GGUFFile(path: path))
    } catch {
        FileHandle.standardError.write(Data("cannot load the tokenizer from \(path) (set SMOLVLM_FUZZ_TOKENIZER): \(error)\n".utf8))
        exit(2)
    }
}

/// `body`'s result, or nil when it throws; the error's messages are rendered on the way, since
/// a message that formats an untrusted value (an offset near 2^64, a negative count) is code
/// that can trap too, and every error must say something.
public func attempt<T>(_ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch {
        let description = String(describing: error)
        let localized = (error as? LocalizedError)?.errorDescription ?? description
        require(!description.isEmpty && !localized.isEmpty, "\(type(of: error)) without a message")
        return nil
    }
}
