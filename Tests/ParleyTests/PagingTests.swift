import Foundation
import HTTPTypes
import Hummingbird
import ParleyCore
import ParleyHTTP
import Testing

private func request(_ path: String) -> Request {
    Request(head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: path), body: RequestBody(buffer: ByteBuffer()))
}

/// The one helper every list route pages with (`Paging.read` and `Paging.page`).
@Suite struct PagingTests {
    @Test func pageOfExactlyLimitRowsHasNoNextCursor() {
        let page = Paging.page(["a", "b", "c"], limit: 3) { $0 }
        #expect(page.rows == ["a", "b", "c"])
        #expect(page.next == nil)
    }

    @Test func extraRowMeansTheLastShownRowIsTheCursor() {
        let page = Paging.page(["a", "b", "c", "d"], limit: 3) { "id-" + $0 }
        #expect(page.rows == ["a", "b", "c"])
        #expect(page.next == "id-c")
    }

    @Test func emptyAndShortPages() {
        let empty = Paging.page([String](), limit: 5) { $0 }
        #expect(empty.rows.isEmpty && empty.next == nil)
        let short = Paging.page(["a"], limit: 5) { $0 }
        #expect(short.rows == ["a"] && short.next == nil)
    }

    @Test func readsLimitAndCursorWithDefaults() throws {
        let absent = try Paging.read(request("/v1/x"), default: 50, max: 200)
        #expect(absent == Paging.Query(limit: 50, cursor: nil))
        #expect(absent.fetchLimit == 51)
        let given = try Paging.read(request("/v1/x?limit=200&before=abc"), default: 50, max: 200)
        #expect(given == Paging.Query(limit: 200, cursor: "abc"))
        let forwards = try Paging.read(request("/v1/x?after=m1&before=ignored"), default: 100, max: 500, direction: .forward)
        #expect(forwards == Paging.Query(limit: 100, cursor: "m1"))
        let blankCursor = try Paging.read(request("/v1/x?before="), default: 50, max: 200)
        #expect(blankCursor.cursor == nil)
    }

    @Test(arguments: ["0", "201", "-1", "ten", "1.5", ""])
    func refusesALimitOutsideTheRange(_ raw: String) {
        #expect {
            try Paging.read(request("/v1/x?limit=\(raw)"), default: 50, max: 200)
        } throws: { error in
            guard let error = error as? ParleyError else { return false }
            return error.code == "invalid_query" && error.message.contains("from 1 to 200")
        }
    }

    @Test func theEnvelopeAlwaysCarriesNextCursorNullOnTheLastPage() throws {
        let last = try JSONCoding.encoder.encode(Page(data: ["a"], nextCursor: nil))
        #expect(String(decoding: last, as: UTF8.self) == #"{"data":["a"],"next_cursor":null}"#)
        let more = try JSONCoding.encoder.encode(Page(rows: ["a", "b", "c"], query: Paging.Query(limit: 2, cursor: nil), cursor: { "id-" + $0 },
                                                       view: { $0.uppercased() }))
        #expect(String(decoding: more, as: UTF8.self) == #"{"data":["A","B"],"next_cursor":"id-b"}"#)
        #expect(Paging.envelope(["x"], next: nil) == ["data": ["x"], "next_cursor": .null])
        #expect(Paging.envelope([], next: "c1") == ["data": [], "next_cursor": "c1"])
        #expect(Paging.parameters == ["limit", "before"] && Paging.forwardParameters == ["limit", "after"])
    }
}
