/// What can go wrong resolving a model name or downloading a file. Every download case names
/// what was being fetched and from where, so the message alone is enough to act on.
///
/// What happens to the partial download (`FILE.part` in the cache):
/// - kept, so the next attempt resumes: ``offline(name:url:reason:)``,
///   ``connectionLost(name:url:attempts:reason:)``, ``notFound(name:url:)``,
///   ``unauthorized(name:url:status:)``, ``httpStatus(name:url:status:)``, ``lockTimeout(path:seconds:)``, ``cancelled(name:)``;
/// - removed, because its bytes cannot be trusted: ``sizeMismatch(name:url:expected:received:)``,
///   ``checksumMismatch(name:url:expected:actual:)``.
public enum HubError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not an existing file and not a known name.
    case unknownModel(String, known: [String])
    /// A known name with a quantization its repository does not publish.
    case unknownQuantization(model: String, quantization: String, available: [String])
    /// A vision projector is needed but `model` is a path, so there is no companion to fetch.
    case missingMmproj(model: String)
    /// The host could not be reached at all (no network, DNS failure, connection refused).
    case offline(name: String, url: String, reason: String)
    /// HTTP 404: the repository or file does not exist at that address.
    case notFound(name: String, url: String)
    /// HTTP 401 or 403.
    case unauthorized(name: String, url: String, status: Int)
    /// Any other HTTP status that is not a success.
    case httpStatus(name: String, url: String, status: Int)
    /// The bytes received do not add up to the size the server declared.
    case sizeMismatch(name: String, url: String, expected: Int64, received: Int64)
    /// The file's SHA-256 is not the one the server published.
    case checksumMismatch(name: String, url: String, expected: String, actual: String)
    /// The connection kept dropping: `attempts` tries, each resumed where the last stopped.
    case connectionLost(name: String, url: String, attempts: Int, reason: String)
    /// Another process (or task) held the download lock for too long.
    case lockTimeout(path: String, seconds: Double)
    /// The cache directory or a file in it could not be created, written or moved.
    case fileSystem(path: String, reason: String)
    /// The task downloading it was cancelled (the partial file is kept).
    case cancelled(name: String)

    /// A message for people: what failed, where, and what to do about it.
    public var description: String {
        switch self {
        case let .unknownModel(name, known):
            return "'\(name)' is neither an existing file nor a known model; known names: \(known.joined(separator: ", ")) "
                + "(optionally with :QUANT, e.g. smolvlm-256m:q8_0)"
        case let .unknownQuantization(model, quant, available):
            return "\(model) has no '\(quant)' files; available: \(available.joined(separator: ", "))"
        case let .missingMmproj(model):
            return "\(model) is a file path, so there is no vision projector to go with it: give the mmproj file's path too (or use a known name such as smolvlm-256m)"
        case let .offline(name, url, reason):
            return "cannot download \(name): \(url) is unreachable (\(reason)). Check the network (or HF_ENDPOINT), "
                + "or download the files yourself and pass their paths instead of the name"
        case let .notFound(name, url):
            return "cannot download \(name): \(url) does not exist (HTTP 404); the repository may have renamed the file. "
                + "Pass a local path instead of the name"
        case let .unauthorized(name, url, status):
            return "cannot download \(name): \(url) refused access (HTTP \(status)). These repositories are public, so check "
                + "HF_ENDPOINT or a proxy; or pass a local path instead of the name"
        case let .httpStatus(name, url, status):
            return "cannot download \(name): \(url) answered HTTP \(status)"
        case let .sizeMismatch(name, url, expected, received):
            return "download of \(name) from \(url) is the wrong size: \(received) bytes received, \(expected) expected; "
                + "the partial file was removed, run again to start over"
        case let .checksumMismatch(name, url, expected, actual):
            return "download of \(name) from \(url) is corrupt: SHA-256 \(actual), expected \(expected); "
                + "the partial file was removed, run again to start over"
        case let .connectionLost(name, url, attempts, reason):
            return "download of \(name) from \(url) kept failing (\(attempts) attempts, last: \(reason)); "
                + "the partial file was kept, run again to resume"
        case let .lockTimeout(path, seconds):
            return "another download of the same file held \(path) for more than \(Int(seconds)) s; remove the lock file if no download is running"
        case let .fileSystem(path, reason):
            return "cannot write \(path): \(reason)"
        case let .cancelled(name):
            return "download of \(name) was cancelled; the partial file was kept, run again to resume"
        }
    }
}
