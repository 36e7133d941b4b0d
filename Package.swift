// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-smolvlm",
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "SmolVLM", targets: ["SmolVLM"]),
        .library(name: "GGUF", targets: ["GGUF"]),
        // The command-line tool. Its target is SmolVLMCLI: a folder named `smolvlm` would be the
        // library's `SmolVLM` on a case-insensitive file system (the macOS default).
        .executable(name: "smolvlm", targets: ["SmolVLMCLI"]),
    ],
    traits: [
        .trait(
            name: "OpenBLAS",
            description: "Route F32/F16/BF16 matrix·matrix products through OpenBLAS's cblas_sgemm (as llama.cpp's BLAS backend does); needs libopenblas-dev, found with pkg-config."
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // Hot loops only: quantization, dequantization, dot products, matrix products.
        .target(
            name: "Kernels",
            path: "Kernels",
            publicHeadersPath: "include"
        ),
        // GGUF container: memory-mapped, bounds-checked reader.
        .target(
            name: "GGUF",
            dependencies: ["Kernels"]
        ),
        // System libjpeg and libpng, found with pkg-config (image decoding for the vision path).
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"]), .brew(["jpeg-turbo"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        // JPEG/PNG -> RGB: C only because libjpeg/libpng report errors by longjmp, which Swift cannot catch.
        .target(name: "CImageShim", dependencies: ["CJPEG", "CPNG"]),
        // Optional GEMM for float weights (the OpenBLAS trait).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        // The engine.
        .target(
            name: "SmolVLM",
            dependencies: [
                "GGUF", "Kernels", .product(name: "Logging", package: "swift-log"),
                // libjpeg/libpng everywhere but Apple platforms, whose SDKs lack them: there
                // ImageIO decodes (Vision/ImageDecoding+ImageIO.swift).
                .target(name: "CImageShim", condition: .when(platforms: [.linux, .android, .windows, .openbsd, .wasi])),
                .target(name: "COpenBLAS", condition: .when(traits: ["OpenBLAS"])),
            ],
            swiftSettings: [.define("OPENBLAS", .when(traits: ["OpenBLAS"]))]
        ),
        // Kernel measurement at model shapes, shared by `smolvlm bench` and Benchmarks/.
        .target(
            name: "KernelBench",
            dependencies: ["SmolVLM", "GGUF", "Kernels"]
        ),
        // The OpenAI-compatible API's request and error types, without HTTP (the fuzz target for
        // request decoding builds it without the server's dependencies).
        .target(name: "OpenAIAPI", dependencies: ["SmolVLM"]),
        // `smolvlm serve`: llama-server's OpenAI-compatible API over the engine's slots.
        .target(
            name: "SmolVLMServer",
            dependencies: [
                "SmolVLM", "OpenAIAPI", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "SmolVLMCLI",
            dependencies: [
                "SmolVLM", "SmolVLMServer", "OpenAIAPI", "GGUF", "Kernels", "KernelBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A minimal app on the public API only (built with everything else, so CI keeps it compiling).
        .executableTarget(name: "smolvlm-example", dependencies: ["SmolVLM"], path: "Examples/Caption"),
        // Loads llama.cpp reference fixtures (Tests/Fixtures) and compares against them.
        .target(name: "ReferenceFixtures", dependencies: ["Kernels"], path: "Tests/Support"),
        .testTarget(name: "ReferenceFixturesTests", dependencies: ["ReferenceFixtures"]),
        .testTarget(name: "SmolVLMTests", dependencies: ["SmolVLM", "GGUF", "ReferenceFixtures"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "Kernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "SmolVLM", "KernelBench"]),
    ]
)

// libFuzzer targets (Fuzz/README.md), declared only when SMOLVLM_FUZZ is set: they build only
// with `--sanitize fuzzer`, which supplies their `main`, and their unsafe flag must not reach
// packages that depend on this one.
if Context.environment["SMOLVLM_FUZZ"] != nil {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzGGUF", ["GGUF", "SmolVLM"]),
        ("FuzzImage", ["SmolVLM"]),
        ("FuzzTokenizer", ["SmolVLM"]),
        ("FuzzPrompt", ["SmolVLM"]),
        ("FuzzChatRequest", ["OpenAIAPI", "SmolVLM"]),
    ]
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["GGUF", "SmolVLM"], path: "Fuzz/FuzzSupport"))
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name, dependencies: target.dependencies + ["FuzzSupport"], path: "Fuzz/\(target.name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ))
    }
}
