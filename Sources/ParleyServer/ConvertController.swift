import Hummingbird
import NIOCore
import ParleyConvert
import ParleyCore
import ParleyHTTP

/// `POST /v1/convert`: a document's raw bytes in (its type from `Content-Type` or `?filename=`),
/// or a `multipart/form-data` form with one `file` part, its Markdown out. Any role; changes nothing and stores nothing.
struct ConvertController {
    let converter: DocumentConverter

    struct Converted: Encodable, Sendable {
        var format: String
        var title: String?
        var markdown: String

        enum CodingKeys: String, CodingKey { case format, title, markdown }

        /// `title` is always present (null when the document names none), as the API describes.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(format, forKey: .format)
            try c.encode(title, forKey: .title)
            try c.encode(markdown, forKey: .markdown)
        }
    }

    /// The route's body limit for `RequestMiddleware` (documents are larger than API bodies).
    static func bodyLimit(_ converter: DocumentConverter) -> (prefix: String, bytes: Int) {
        ("/v1/convert", converter.limits.maxInputBytes)
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/convert", query: ["filename"]) { req, ctx in
            _ = try ctx.caller()
            if req.isMultipartForm {
                // A form upload: one 'file' part, its filename and type naming the format.
                if req.uri.queryParameters["filename"] != nil {
                    throw ParleyError.badRequest("with a form upload the file part's filename names the format; drop ?filename=", code: "unknown_parameter")
                }
                let form = try await req.multipartForm(limit: converter.limits.maxInputBytes, fields: ["file"], maxParts: 1)
                guard let file = form["file"], !file.body.isEmpty else {
                    throw ParleyError.badRequest("the form has no 'file' part with the document's bytes", code: form["file"] == nil ? "missing_file" : "empty_body")
                }
                let document = try converter.convert(file.body, filename: file.filename, contentType: file.contentType)
                return JSON(Converted(format: document.format.rawValue, title: document.title, markdown: document.markdown))
            }
            var request = req
            let buffer = try await request.collectBody(upTo: converter.limits.maxInputBytes)
            guard buffer.readableBytes > 0 else {
                throw ParleyError.badRequest("the body is empty; send the document's bytes as the body, with its Content-Type or ?filename=",
                                             code: "empty_body")
            }
            let filename = req.uri.queryParameters["filename"].map(String.init)
            let document = try converter.convert(Array(buffer.readableBytesView), filename: filename, contentType: req.headers[.contentType])
            return JSON(Converted(format: document.format.rawValue, title: document.title, markdown: document.markdown))
        }
    }
}
