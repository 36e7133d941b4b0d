import Foundation

extension GGUFError: LocalizedError {
    /// The ``description``, for `localizedDescription` and the alerts of Apple frameworks.
    public var errorDescription: String? { description }
}
