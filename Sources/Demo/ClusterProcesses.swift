import Foundation

/// The cluster's executables started as separate processes, each with its own log file and
/// health port, stopped with SIGTERM (graceful) at the end.
public final class ClusterProcesses: @unchecked Sendable {
    public struct Child {
        public let name: String
        public let process: Process
        public let logPath: String
        /// The health and metrics port (`HTTP_PORT`).
        public let healthPort: Int
        let executable: String
        let arguments: [String]
        let extra: [String: String]
    }

    let binDirectory: String
    let logDirectory: String
    let environment: [String: String]
    private let lock = NSLock()
    private var children: [Child] = []
    /// Children being killed and started again (not "exited" meanwhile).
    private var restarting: Set<String> = []

    /// - Parameters:
    ///   - binDirectory: where `swift build` put the executables.
    ///   - environment: what every child gets besides `HTTP_PORT` (URLs, configuration path,
    ///     secrets).
    public init(binDirectory: String, logDirectory: String, environment: [String: String]) {
        self.binDirectory = binDirectory
        self.logDirectory = logDirectory
        self.environment = environment
    }

    /// A free TCP port on loopback (bound, read, released).
    public static func freePort() -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func logPath(_ name: String) -> String { logDirectory + "/" + name + ".log" }

    /// Starts `executable` (a long-running worker) under `name`.
    @discardableResult
    public func start(_ executable: String, name: String? = nil, arguments: [String] = [], extra: [String: String] = [:]) throws -> Child {
        let name = name ?? executable
        let port = Self.freePort()
        let process = try Self.launch(binDirectory + "/" + executable, arguments: arguments,
                                      environment: environment.merging(extra) { _, b in b }.merging(["HTTP_PORT": String(port)]) { _, b in b },
                                      logPath: logPath(name))
        let child = Child(name: name, process: process, logPath: logPath(name), healthPort: port, executable: executable, arguments: arguments,
                          extra: extra)
        lock.withLock { children.append(child) }
        return child
    }

    /// SIGKILLs the child called `name` (no warning, no cleanup: a crash or an OOM kill) and
    /// starts it again with the same arguments, as a supervisor (compose's `restart`, a
    /// Deployment) would; its log continues in the same file.
    @discardableResult
    public func killAndRestart(_ name: String) async throws -> Child {
        guard let old = lock.withLock({ () -> Child? in
            guard !restarting.contains(name), let child = children.first(where: { $0.name == name }) else { return nil }
            restarting.insert(name)
            return child
        }) else { throw DemoError("no child called \(name), or it is being restarted") }
        defer { lock.withLock { _ = restarting.remove(name) } }
        if old.process.isRunning { kill(old.process.processIdentifier, SIGKILL) }
        while old.process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let port = Self.freePort()
        let process = try Self.launch(binDirectory + "/" + old.executable, arguments: old.arguments,
                                      environment: environment.merging(old.extra) { _, b in b }.merging(["HTTP_PORT": String(port)]) { _, b in b },
                                      logPath: old.logPath, append: true)
        let child = Child(name: name, process: process, logPath: old.logPath, healthPort: port, executable: old.executable, arguments: old.arguments,
                          extra: old.extra)
        lock.withLock { children = children.map { $0.name == name ? child : $0 } }
        return child
    }

    /// Runs `executable` to its end; returns its exit status and output.
    public func run(_ executable: String, name: String? = nil, arguments: [String], extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let path = logPath(name ?? executable)
        let process = try Self.launch(binDirectory + "/" + executable, arguments: arguments,
                                      environment: environment.merging(extra) { _, b in b }.merging(["HTTP_PORT": "0"]) { _, b in b }, logPath: path)
        while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        return (process.terminationStatus, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    static func launch(_ path: String, arguments: [String], environment: [String: String], logPath: String, append: Bool = false) throws -> Process {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw DemoError("\(path) is not built (run swift build first)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        if !append || !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw DemoError("cannot write \(logPath)") }
        if append { log.seekToEndOfFile() }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The children that have exited although nobody stopped them.
    public var exited: [Child] { lock.withLock { children.filter { !$0.process.isRunning && !restarting.contains($0.name) } } }

    public var running: [Child] { lock.withLock { children } }

    /// SIGTERM to every child, then waits (SIGKILL after `seconds`).
    public func stopAll(seconds: Double = 20) async {
        let all = lock.withLock { let all = children; children = []; return all }
        for child in all where child.process.isRunning { kill(child.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(seconds)
        while all.contains(where: { $0.process.isRunning }) && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for child in all where child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
    }

    deinit {
        for child in children where child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
    }
}

public struct DemoError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
