import ArgumentParser
import Foundation
import Logging
import ParleyApp
import ParleyCore
import ParleyPackKit
import ParleyStorage

/// `parley seed|bench|import <name> [options]`: the commands the installed packs contribute. The
/// database is opened and migrated first; the pack parses its own options.
protocol PackCommandGroup: AsyncParsableCommand {
    static var kind: PackCommand.Kind { get }
    var common: CommonOptions { get }
    var name: String { get }
    var arguments: [String] { get }
}

extension PackCommandGroup {
    static func commands() -> [PackCommand] { ParleySchema.packSet.commands.filter { $0.kind == kind } }

    static func discussion() -> String {
        let list = commands()
        if list.isEmpty { return "No installed pack has one." }
        return list.map { "parley \(kind.rawValue) \($0.name): \($0.summary)\n\($0.help)" }.joined(separator: "\n\n")
    }

    func run() async throws {
        guard let command = Self.commands().first(where: { $0.name == name }) else {
            let names = Self.commands().map(\.name)
            throw ValidationError("no '\(Self.kind.rawValue) \(name)' command; the installed packs have: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        let config = try common.load()
        var logger = Logger(label: "parley")
        if Self.kind == .bench { logger.logLevel = .error }
        let store = await openStore(config, logger: logger)
        do {
            try await command.run(PackCommandContext(store: store, clock: SystemClock(), config: config, logger: logger, arguments: arguments))
        } catch let e as ValidationError {
            await store.shutdown()
            throw e
        } catch let e as ParleyError {
            await store.shutdown()
            fail(e.message)
        } catch {
            await store.shutdown()
            fail("\(error)")
        }
        await store.shutdown()
    }
}

struct SeedCommand: PackCommandGroup {
    static let kind = PackCommand.Kind.seed
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "seed", abstract: "Load a pack's demo data.", discussion: discussion())
    }
    @OptionGroup var common: CommonOptions
    @Argument(help: "Which demo data (the list below).") var name: String
    @Argument(parsing: .allUnrecognized, help: "The pack command's own options.") var arguments: [String] = []
}

struct BenchCommand: PackCommandGroup {
    static let kind = PackCommand.Kind.bench
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "bench", abstract: "Run a pack's benchmark on the configured database.", discussion: discussion())
    }
    @OptionGroup var common: CommonOptions
    @Argument(help: "Which benchmark (the list below).") var name: String
    @Argument(parsing: .allUnrecognized, help: "The benchmark's own options.") var arguments: [String] = []
}

struct ImportCommand: PackCommandGroup {
    static let kind = PackCommand.Kind.importData
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "import", abstract: "Import data into a pack.", discussion: discussion())
    }
    @OptionGroup var common: CommonOptions
    @Argument(help: "What to import.") var name: String
    @Argument(parsing: .allUnrecognized, help: "The import's own options.") var arguments: [String] = []
}
