import Foundation

// Every error of the library reads well where Apple frameworks and apps show errors
// (`localizedDescription`, alerts): `errorDescription` is the same text as `description`.

extension ModelError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension VisionModelError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension Idefics3Preprocessor.Error: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension ImagePromptError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension ImageError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension ServingError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension ChatSessionError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension GenerationOptionsError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension TokenizerError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension TraceError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension HubError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}

extension ChatTemplate.DetectionError: LocalizedError {
    /// The ``description``.
    public var errorDescription: String? { description }
}
