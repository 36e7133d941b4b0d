import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for the download tests: one thread per connection,
/// `Connection: close` on every response, and switches for every way a download can go wrong.
/// It only ever binds the loopback interface, on a port the kernel picks.
final class TestHTTPServer: @unchecked Sendable {
    /// How one path is served.
    struct Route: Sendable {
        /// The file's bytes.
        var body: [UInt8] = []
        /// Anything but 200 answers with this status and a short text body.
        var status = 200
        /// Sent as `ETag`.
        var etag: String?
        /// Sent as `X-Linked-ETag` (on the redirect when there is one, as Hugging Face does).
        var linkedETag: String?
        /// Sent as `X-Linked-Size`.
        var linkedSize: Int?
        /// Answer 200 with the whole file even when asked for a range.
        var ignoreRange = false
        /// Close the connection after this many body bytes of each response.
        var dropAfter: Int?
        /// Close the connection when the file offset reaches this point, in every response.
        var truncateAt: Int?
        /// Send only the first `body.count - shortBy` bytes, with a Content-Length that matches
        /// them: a complete, well-formed response of the wrong size.
        var shortBy = 0
        /// Answer 302 to this path (same server) instead of serving the body.
        var redirectTo: String?
    }

    /// What a client asked for.
    struct Request: Sendable, Equatable {
        var path: String
        var range: String?
    }

    private let lock = NSLock()
    private var routes: [String: Route]
    private var log: [Request] = []
    private let listener: Int32
    /// The port the server listens on.
    let port: UInt16

    /// Starts serving `routes` (path → route) on a free loopback port.
    init(routes: [String: Route]) throws {
        self.routes = routes
        let fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { throw ServerError.socket(errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw ServerError.socket(errno)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { stop() }

    /// The server's base URL (what `HF_ENDPOINT` would be).
    var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Every request so far, in arrival order.
    var requests: [Request] { lock.withLock { log } }

    /// Replaces the route for `path`.
    func setRoute(_ path: String, _ route: Route) { lock.withLock { routes[path] = route } }

    /// Stops accepting (connections in progress finish on their own).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// A port nothing listens on: bound, read back and closed again, so connecting is refused.
    static func closedPort() throws -> UInt16 {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw ServerError.socket(errno) }
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw ServerError.socket(errno) }
        return UInt16(bigEndian: address.sin_port)
    }

    enum ServerError: Error { case socket(Int32) }

    #if canImport(Glibc)
    private static let streamType = Int32(SOCK_STREAM.rawValue)
    private static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    private static let streamType = SOCK_STREAM
    private static let sendFlags: Int32 = 0
    #endif

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // the listener was shut down
            }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
        // Bounded waits: a test must never hang on a silent client.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        guard let head = readHead(fd) else { return }
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count >= 2 else { return }
        let path = String(requestLine[1])
        var range: String?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == "range" {
                range = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let route: Route? = lock.withLock {
            log.append(Request(path: path, range: range))
            return routes[path]
        }
        guard let route else { return respond(fd, status: 404, headers: [:], text: "no such file") }
        if route.status != 200 { return respond(fd, status: route.status, headers: [:], text: "status \(route.status)") }
        if let target = route.redirectTo {
            var headers = ["Location": "http://127.0.0.1:\(port)\(target)"]
            if let tag = route.linkedETag { headers["X-Linked-ETag"] = "\"\(tag)\"" }
            if let size = route.linkedSize { headers["X-Linked-Size"] = String(size) }
            return respond(fd, status: 302, headers: headers, text: "")
        }

        let size = route.body.count
        var start = 0
        var status = 200
        var headers: [String: String] = ["Accept-Ranges": "bytes"]
        if let tag = route.etag { headers["ETag"] = "\"\(tag)\"" }
        if let tag = route.linkedETag { headers["X-Linked-ETag"] = "\"\(tag)\"" }
        if let linked = route.linkedSize { headers["X-Linked-Size"] = String(linked) }
        if let range, !route.ignoreRange, let from = Self.rangeStart(range) {
            guard from < size else {
                headers["Content-Range"] = "bytes */\(size)"
                return respond(fd, status: 416, headers: headers, text: "")
            }
            start = from
            status = 206
            headers["Content-Range"] = "bytes \(from)-\(size - 1)/\(size)"
        }
        let end = size - route.shortBy
        headers["Content-Length"] = String(max(0, end - start))
        guard sendAll(fd, Array(Self.head(status: status, headers: headers).utf8)) else { return }
        var stop = end
        if let truncateAt = route.truncateAt { stop = min(stop, max(start, truncateAt)) }
        if let dropAfter = route.dropAfter { stop = min(stop, start + dropAfter) }
        var offset = start
        while offset < stop {
            let next = min(stop, offset + 64 * 1024)
            guard route.body[offset..<next].withUnsafeBytes({ sendAll(fd, $0) }) else { return }
            offset = next
        }
    }

    private func readHead(_ fd: Int32) -> String? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while buffer.count < 64 * 1024 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
            if let text = String(bytes: buffer, encoding: .utf8), let end = text.range(of: "\r\n\r\n") {
                return String(text[..<end.lowerBound])
            }
        }
        return nil
    }

    private static func rangeStart(_ header: String) -> Int? {
        guard header.hasPrefix("bytes="), let dash = header.firstIndex(of: "-") else { return nil }
        return Int(header[header.index(header.startIndex, offsetBy: 6)..<dash])
    }

    private static func head(status: Int, headers: [String: String]) -> String {
        let reasons = [200: "OK", 206: "Partial Content", 302: "Found", 401: "Unauthorized", 403: "Forbidden",
                       404: "Not Found", 416: "Range Not Satisfiable", 500: "Internal Server Error"]
        var text = "HTTP/1.1 \(status) \(reasons[status] ?? "Status")\r\nConnection: close\r\n"
        for (key, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(key): \(value)\r\n" }
        return text + "\r\n"
    }

    private func respond(_ fd: Int32, status: Int, headers: [String: String], text: String) {
        var headers = headers
        headers["Content-Length"] = String(text.utf8.count)
        headers["Content-Type"] = "text/plain"
        _ = sendAll(fd, Array((Self.head(status: status, headers: headers) + text).utf8))
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { sendAll(fd, $0) }
    }

    private func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Self.sendFlags)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }
}
