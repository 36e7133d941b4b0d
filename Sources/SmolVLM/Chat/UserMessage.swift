import Foundation

/// An image handed to a ``ChatSession``: a file, encoded bytes, or decoded pixels.
public enum ImageInput: Sendable {
    /// A JPEG or PNG file.
    case file(URL)
    /// JPEG or PNG bytes in memory (e.g. a decoded base64 payload or a camera frame).
    case data(Data)
    /// Pixels already decoded.
    case pixels(RGBImage)

    /// Decodes the image with `decoder` (its pixel limit applies to files and data).
    public func decoded(with decoder: ImageDecoder = ImageDecoder()) throws(ImageError) -> RGBImage {
        switch self {
        case let .file(url): try decoder.decode(path: url.path)
        case let .data(data): try decoder.decode(data: data)
        case let .pixels(image): image
        }
    }
}

/// What the user says in one turn: text, and any number of images, which the prompt places
/// before the text (as SmolVLM was trained and llama.cpp's CLI does).
public struct UserMessage: Sendable, ExpressibleByStringLiteral {
    /// The message text, placed after the images.
    public var text: String
    /// The images, in the order the prompt shows them to the model.
    public var images: [ImageInput]

    /// A message of `text` with `images` before it (none by default: a text-only turn).
    public init(_ text: String, images: [ImageInput] = []) {
        self.text = text
        self.images = images
    }

    public init(stringLiteral text: String) {
        self.init(text)
    }
}
