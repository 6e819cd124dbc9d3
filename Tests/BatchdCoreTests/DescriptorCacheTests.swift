@testable import BatchdCore
import Testing

/// The history's bounded set of open files (`DescriptorCache`): past its capacity the least
/// recently used file goes, however often the others were used in between.
@Suite("Open history files, least recently used out")
struct DescriptorCacheTests {
    final class File {
        let name: String
        init(_ name: String) { self.name = name }
    }

    /// Opens `key` through the cache and says whether it had to be opened.
    func use(_ cache: inout DescriptorCache<File>, _ key: String) -> Bool {
        var opened = false
        _ = cache.file(key) { () -> File in
            opened = true
            return File(key)
        }
        return opened
    }

    @Test func theLeastRecentlyUsedFileIsClosedFirst() {
        var cache = DescriptorCache<File>(capacity: 3)
        for key in ["a", "b", "c"] { #expect(use(&cache, key)) }
        #expect(!use(&cache, "a"))  // a is now the newest: b is the oldest
        #expect(use(&cache, "d"))
        #expect(cache.peek("b") == nil)
        #expect(cache.peek("a") != nil && cache.peek("c") != nil && cache.peek("d") != nil)
        #expect(use(&cache, "e"))  // then c
        #expect(cache.peek("c") == nil && cache.peek("a") != nil)
    }

    /// Thousands of uses of the same files between evictions (the queue of uses is compacted
    /// on the way) still evict by recency, and the cache never holds more than its capacity.
    @Test func manyUsesBetweenEvictionsKeepTheOrder() {
        var cache = DescriptorCache<File>(capacity: 4)
        for key in ["a", "b", "c", "d"] { _ = use(&cache, key) }
        for round in 0..<5_000 { _ = use(&cache, ["b", "c", "d", "a"][round % 4]) }  // ends with a
        cache.remove("c")
        #expect(use(&cache, "e"))  // a free slot: nothing evicted
        #expect(cache.peek("b") != nil)
        #expect(use(&cache, "f"))  // b was used longest ago
        #expect(cache.peek("b") == nil)
        #expect(["a", "d", "e", "f"].allSatisfy { cache.peek($0) != nil })
        #expect(use(&cache, "c"))  // reopened after its removal; d goes
        #expect(cache.peek("d") == nil)
    }
}
