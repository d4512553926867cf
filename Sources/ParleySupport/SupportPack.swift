import Foundation
import ParleyAgent
import ParleyComms
import ParleyConvert
import ParleyCore
import ParleyEmbed
import ParleyHTTP
import ParleyPackKit

/// The customer-support pack: a knowledge base per tenant searched by BM25 and vectors (fused
/// by reciprocal rank), the `search_knowledge` tool whose answers cite their sources, and the
/// offline planner's extractive answers.
public enum SupportPack {
    public static var pack: DomainPack { make() }

    /// The pack with a given embedder (tests pass a deterministic one); `nil` uses the
    /// installation's configured embedder, if any.
    public static func make(embedder: (any Embedder)? = nil) -> DomainPack {
        DomainPack(name: "support", migrations: SupportSchema.migrations, tools: [searchKnowledge], intents: [KnowledgeQuestionIntent()],
                   templates: [MessageTemplate(name: "support.system_prompt", channel: "email", purpose: .transactional,
                                               subject: "Support assistant instructions", text: defaultSystemPrompt)],
                   systemPromptTemplate: "support.system_prompt",
                   settings: SupportSettings.documentation,
                   validateSettings: { config throws(ConfigError) in
                       _ = try SupportSettings.load(config)
                       _ = try EmbeddingSettings.load(config)
                   },
                   commands: SupportCommands.all + KBBench.commands,
                   consoleViews: [ConsoleView(route: "knowledge", label: "Knowledge", export: "knowledgeView", file: "knowledge.js", files: ConsolePart.files)],
                   openAPI: OpenAPIPart.yaml,
                   purgeTargets: SupportSchema.purgeTargets,
                   bind: { context in try bind(context, embedder: embedder) })
    }

    /// The environment the pack's tool, routes and jobs share.
    struct Environment: Sendable {
        var kb: KnowledgeService
    }

    static func bind(_ context: PackContext, embedder given: (any Embedder)?) throws -> PackRuntime {
        let settings = try SupportSettings.load(context.config)
        // The configured embedder (PARLEY_EMBEDDING_MODEL_DIR or PARLEY_EMBEDDINGS_URL; none: BM25
        // alone), unless a test passes its own.
        let embedder: (any Embedder)? = try given ?? makeEmbedder(EmbeddingSettings.load(context.config))
        var made = KnowledgeService(store: context.store, clock: context.clock, settings: settings, embedder: embedder, logger: context.logger,
                                    wake: context.wake)
        made.retention = context.config.retention
        let kb = made
        // With a language model configured, /v1/rag/query has the model write the answer.
        let answers = ModelAnswers(kb: kb, model: ModelAnswers.model(context.config.models, clock: context.clock, logger: context.logger),
                                   logger: context.logger)
        let controller = SupportController(kb: kb, answers: answers, converter: DocumentConverter(), maxBodyBytes: context.config.maxBodyBytes)
        return PackRuntime(
            services: [Environment(kb: kb), KnowledgeCatalog(kb)],
            routes: { controller.register($0) },
            routeRules: routeRules,
            jobHandlers: [
                JobHandler(type: KnowledgeService.ingestJob) { job in try await kb.runBatch(job) },
                JobHandler(type: KnowledgeService.reembedJob) { job in try await kb.reembed(tenantID: job.tenantID) },
            ],
            status: { ["search": kb.searchDescription, "bm25": kb.bm25Index.description] })
    }

    static let routeRules: [RouteRule] = [
        RouteRule("POST /v1/rag/collections", .act, "create knowledge-base collections"),
        RouteRule("POST /v1/rag/documents", .act, "add knowledge-base documents"),
        RouteRule("POST /v1/rag/documents/batch", .act, "add knowledge-base documents"),
        RouteRule("DELETE /v1/rag/documents/:document_id", .act, "delete knowledge-base documents"),
        RouteRule("POST /v1/rag/documents/:document_id/restore", .act, "restore knowledge-base documents"),
        RouteRule("DELETE /v1/rag/collections/:name", .act, "delete knowledge-base collections"),
        RouteRule("POST /v1/rag/collections/:name/restore", .act, "restore knowledge-base collections"),
        RouteRule("POST /v1/rag/search", .readTenant, "search the knowledge base"),
        RouteRule("POST /v1/rag/query", .readTenant, "ask the knowledge base"),
        RouteRule("PUT /v1/rag/settings", .operate, "change the knowledge base's relevance thresholds"),
    ]

    public static let defaultSystemPrompt = """
        You are the customer-support assistant of this business. Answer customers' questions only from the \
        knowledge base:
        - Call search_knowledge with the customer's question (or the key words of it) before answering a question \
        about the product, prices, accounts, orders or policies.
        - Answer only with what the returned passages say. Cite each fact with the number of its source in square \
        brackets, like [1] or [2][3], using the numbers of the citations list; never cite a number that is not in it.
        - When the result has no_relevant_results, say plainly that the knowledge base does not cover it and offer to \
        pass the question to a person; never guess or invent policies, prices or steps.
        - Be brief, friendly and concrete; quote steps and figures exactly as written.
        """

    static func service(_ ctx: ToolContext) throws -> KnowledgeService {
        guard let env = ctx.services[Environment.self] else { throw ToolError("the knowledge base is not configured on this server") }
        return env.kb
    }

    /// The tool's output: the passages and their numbered citations, or `no_relevant_results`.
    static func toolOutput(_ found: SearchResponse) -> JSONValue {
        guard !found.results.isEmpty else { return ["results": [], "no_relevant_results": true] }
        let citations = KnowledgeService.citations(found.results)
        let results: [JSONValue] = zip(citations, found.results).map { c, r in
            ["n": .number(Double(c.n)), "chunk_id": .string(r.chunkId), "document_id": .string(r.documentId),
             "document_title": .string(r.documentTitle), "heading_path": .string(r.headingPath),
             "text": .string(String(r.text.prefix(4000))), "score": .number(r.score)]
        }
        let list: [JSONValue] = citations.map { c in
            ["n": .number(Double(c.n)), "chunk_id": .string(c.chunkId), "document_id": .string(c.documentId),
             "document_title": .string(c.documentTitle), "heading_path": .string(c.headingPath), "snippet": .string(c.snippet)]
        }
        return ["results": .array(results), "citations": .array(list)]
    }

    static let searchKnowledge = Tool(
        name: "search_knowledge",
        description: """
            Search the business's knowledge base (help articles, policies, price lists) for passages that answer a question. \
            Returns the best passages with numbered citations; cite them as [n] in the answer. \
            no_relevant_results: true means the knowledge base does not cover the question.
            """,
        inputSchema: ["type": "object", "properties": [
            "query": ["type": "string", "minLength": 1, "maxLength": 2000, "description": "The question or key words"],
            "collection": ["type": "string", "maxLength": 100, "description": "Only this collection"],
            "tags": ["type": "array", "items": ["type": "string", "maxLength": 50], "maxItems": 20],
            "k": ["type": "integer", "minimum": 1, "maximum": 10],
        ], "required": ["query"], "additionalProperties": false],
        permission: .converse
    ) { input, ctx in
        // A run of an agent with knowledge collections searches only those.
        var request = SearchRequest(query: input["query"]?.stringValue ?? "", collection: input["collection"]?.stringValue,
                                    collectionScope: ctx.knowledgeCollections,
                                    tags: input["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [], k: input["k"]?.intValue ?? 5)
        request.mode = .hybrid
        do {
            return toolOutput(try await service(ctx).search(ctx.action.principal, request))
        } catch let error as ParleyError {
            throw ToolError(error.message)
        }
    }
}
