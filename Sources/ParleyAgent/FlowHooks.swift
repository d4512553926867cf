import Foundation
import ParleyCore

// What the workflow engine (ParleyFlows) asks of the agent side: a tool run outside a model
// turn, under the tenant's policy, with the same executor (schema, timeout) as a run's calls.

extension AgentService {
    /// The tool as the tenant sees it (its policy mode), or nil when it is not installed, the
    /// tenant switched its pack off, or the caller's role may not use it.
    public func flowTool(_ principal: Principal, name: String) async throws -> ToolView? {
        guard let tool = runtime.tools[name], principal.role.allows(tool.permission) else { return nil }
        return try await tools(principal).first { $0.name == name }
    }

    /// Every installed tool's name (a flow's tool steps are checked against them on save).
    public var installedToolNames: Set<String> { Set(runtime.tools.order) }

    /// Runs one tool with `input` through the `ToolExecutor`; `runID` is what the tool sees as its workflow id.
    public func runFlowTool(_ ctx: ActionContext, name: String, input: JSONValue, runID: String) async throws -> ToolOutcome {
        let tool = runtime.tools[name]
        let context = ToolContext(action: ctx, workflowID: runID, store: runtime.store, clock: runtime.clock, services: runtime.services)
        return try await runtime.executor.execute(tool, name: name, arguments: input.serialized(), context: context)
    }
}
