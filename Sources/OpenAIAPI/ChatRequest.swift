import Foundation
import SmolVLM

/// A `POST /v1/chat/completions` body, read as llama-server reads it: OpenAI's fields plus
/// llama.cpp's (`n_predict`, `repeat_penalty`, `cache_prompt`, …); unknown fields are ignored.
package struct ChatRequest {
    /// An image reference as the client gave it, in prompt order.
    package enum ImageSource: Equatable {
        /// `data:image/…;base64,…` or bare base64, decoded.
        case bytes(Data)
        /// An http(s) URL to fetch.
        case url(URL)
    }

    /// The conversation, each image part replaced by ``ImagePromptLayout/marker``.
    package var messages: [ChatTemplate.Message]
    /// The image parts in order.
    package var images: [ImageSource]
    package var options: GenerationOptions
    /// nil: until the context is full (llama.cpp's `n_predict` -1).
    package var maxTokens: Int?
    package var stream: Bool
    package var includeUsage: Bool
    package var cachePrompt: Bool

    /// Parses a request body; `defaults` are the server's sampling settings (its flags).
    ///
    /// - Throws: ``APIError`` 400 naming the field for malformed JSON, a missing or mistyped
    ///   field, an unknown role or content part, or a URL that is neither http(s), data nor base64.
    package init(json body: Data, defaults: GenerationOptions, defaultMaxTokens: Int?) throws(APIError) {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            throw .invalidRequest("the request body is not valid JSON: \(Self.reason(error))")
        }
        guard let object = root as? [String: Any] else { throw .invalidRequest("the request body must be a JSON object") }
        let body = JSONFields(object)

        guard let rawMessages = try body.array("messages"), !rawMessages.isEmpty else {
            throw .invalidRequest("'messages' is required and must be a non-empty array")
        }
        var messages: [ChatTemplate.Message] = []
        var images: [ImageSource] = []
        for (i, raw) in rawMessages.enumerated() {
            guard let m = raw as? [String: Any] else { throw .invalidRequest("messages[\(i)] must be an object") }
            let fields = JSONFields(m, path: "messages[\(i)]")
            let roleName = try fields.string("role") ?? ""
            let role: ChatTemplate.Role
            switch roleName {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .assistant
            default: throw .invalidRequest("messages[\(i)].role must be system, user or assistant, not '\(roleName)'")
            }
            let content = try Self.content(m["content"], path: "messages[\(i)].content", images: &images)
            messages.append(.init(role: role, content: content))
        }
        self.messages = messages
        self.images = images

        var o = defaults
        if let v = try body.float("temperature") { o.temperature = v }
        if let v = try body.int("top_k") { o.topK = v }
        if let v = try body.float("top_p") { o.topP = v }
        if let v = try body.float("min_p") { o.minP = v }
        if let v = try body.float("repeat_penalty") { o.repetitionPenalty = v }
        if let v = try body.int("repeat_last_n") { o.repetitionWindow = v }
        if let v = try body.float("presence_penalty") { o.presencePenalty = v }
        if let v = try body.float("frequency_penalty") { o.frequencyPenalty = v }
        if let v = try body.int("seed") { o.seed = v < 0 ? nil : UInt64(v) }
        switch object["stop"] {
        case nil, is NSNull: break
        case let s as String: o.stop = [s]
        case let a as [Any]:
            guard let strings = a as? [String] else { throw .invalidRequest("'stop' must be a string or an array of strings") }
            o.stop = strings
        default: throw .invalidRequest("'stop' must be a string or an array of strings")
        }
        o.stop.removeAll(where: \.isEmpty)
        do { try o.validate() } catch { throw .invalidRequest("invalid parameter: \(error)") }
        options = o

        // llama.cpp: an explicit n_predict wins over max_tokens / max_completion_tokens; -1 is "no limit".
        var requested = try body.int("max_tokens")
        if let n = try body.int("max_completion_tokens") { requested = n }
        if let n = try body.int("n_predict") { requested = n }
        switch requested {
        case nil: maxTokens = defaultMaxTokens
        case let n? where n < 0:
            guard n == -1 else { throw .invalidRequest("'max_tokens' must be -1 (no limit) or at least 0, not \(n)") }
            maxTokens = nil
        case let n?: maxTokens = n
        }
        stream = try body.bool("stream") ?? false
        if let streamOptions = try body.object("stream_options") {
            includeUsage = try JSONFields(streamOptions, path: "stream_options").bool("include_usage") ?? false
        } else {
            includeUsage = false
        }
        cachePrompt = try body.bool("cache_prompt") ?? true
    }

    /// Message content: a string, null, or an array of text and image parts. Parts are joined
    /// as llama.cpp joins them: text parts with "\n" between them, images as markers with no
    /// newline on either side.
    private static func content(_ raw: Any?, path: String, images: inout [ImageSource]) throws(APIError) -> String {
        switch raw {
        case nil, is NSNull: return ""
        case let s as String: return s
        case let parts as [Any]:
            var text = ""
            var lastWasImage = false
            for (k, rawPart) in parts.enumerated() {
                guard let part = rawPart as? [String: Any] else { throw .invalidRequest("\(path)[\(k)] must be an object") }
                let fields = JSONFields(part, path: "\(path)[\(k)]")
                switch try fields.string("type") {
                case "text":
                    let t = try fields.string("text") ?? ""
                    if !lastWasImage && !text.isEmpty { text += "\n" }
                    text += t
                    lastWasImage = false
                case "image_url":
                    var url = part["image_url"] as? String
                    if url == nil, let object = try fields.object("image_url") {
                        url = try JSONFields(object, path: "\(path)[\(k)].image_url").string("url")
                    }
                    guard let url, !url.isEmpty else { throw .invalidRequest("\(path)[\(k)].image_url.url is required") }
                    images.append(try imageSource(url))
                    text += ImagePromptLayout.marker
                    lastWasImage = true
                case let other:
                    throw .invalidRequest("\(path)[\(k)].type '\(other ?? "")' is not supported (use 'text' or 'image_url')")
                }
            }
            return text
        default:
            throw .invalidRequest("\(path) must be a string or an array of content parts")
        }
    }

    /// An image URL: `data:image/…;base64,…`, an http(s) URL, or bare base64.
    package static func imageSource(_ url: String) throws(APIError) -> ImageSource {
        if url.hasPrefix("data:") {
            guard let comma = url.firstIndex(of: ",") else { throw .invalidRequest("Invalid uri-encoded base64 value: no ',' in the data URI") }
            let header = url[url.index(url.startIndex, offsetBy: 5) ..< comma]
            guard header.hasPrefix("image/") else { throw .invalidRequest("Invalid uri format: data:\(header) (expected data:image/…)") }
            guard header.hasSuffix(";base64") else { throw .invalidRequest("the image data URI must be base64 encoded") }
            return .bytes(try base64(url[url.index(after: comma)...]))
        }
        if url.hasPrefix("http://") || url.hasPrefix("https://") {
            guard let u = URL(string: url) else { throw .invalidRequest("invalid image URL") }
            return .url(u)
        }
        return .bytes(try base64(Substring(url)))
    }

    private static func base64(_ text: Substring) throws(APIError) -> Data {
        // Clients wrap lines and use the URL-safe alphabet; padding is often dropped.
        var s = text.filter { !$0.isWhitespace }.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if s.count % 4 != 0 { s += String(repeating: "=", count: 4 - s.count % 4) }
        guard let data = Data(base64Encoded: s), !data.isEmpty else {
            throw .invalidRequest("Invalid base64 value: the image data could not be decoded")
        }
        return data
    }

    private static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }
}

/// Typed reads of a JSON object's fields, each throwing a 400 that names the field.
package struct JSONFields {
    package let object: [String: Any]
    package let path: String

    package init(_ object: [String: Any], path: String = "") {
        self.object = object
        self.path = path
    }

    private func name(_ key: String) -> String { path.isEmpty ? "'\(key)'" : "\(path).\(key)" }

    private func value(_ key: String) -> Any? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        return v
    }

    package func string(_ key: String) throws(APIError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v as? String else { throw .invalidRequest("\(name(key)) must be a string") }
        return s
    }

    package func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v as? Bool, Self.isBoolean(v) else { throw .invalidRequest("\(name(key)) must be true or false") }
        return b
    }

    package func int(_ key: String) throws(APIError) -> Int? {
        guard let v = value(key) else { return nil }
        guard !Self.isBoolean(v), let n = v as? NSNumber, let d = Double(exactly: n.doubleValue), d == d.rounded(),
              abs(d) < 9.0e15 else {
            throw .invalidRequest("\(name(key)) must be an integer")
        }
        return Int(d)
    }

    package func float(_ key: String) throws(APIError) -> Float? {
        guard let v = value(key) else { return nil }
        guard !Self.isBoolean(v), let n = v as? NSNumber, n.doubleValue.isFinite else {
            throw .invalidRequest("\(name(key)) must be a number")
        }
        return n.floatValue
    }

    package func array(_ key: String) throws(APIError) -> [Any]? {
        guard let v = value(key) else { return nil }
        guard let a = v as? [Any] else { throw .invalidRequest("\(name(key)) must be an array") }
        return a
    }

    package func object(_ key: String) throws(APIError) -> [String: Any]? {
        guard let v = value(key) else { return nil }
        guard let o = v as? [String: Any] else { throw .invalidRequest("\(name(key)) must be an object") }
        return o
    }

    /// JSONSerialization gives booleans as NSNumber too; tell them apart from 0 and 1.
    package static func isBoolean(_ v: Any) -> Bool {
        // Booleans come back as NSNumber with the objCType of a C char on every platform.
        (v as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }
}
