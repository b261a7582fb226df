import Testing
import VimanaConfigLoader

@Suite struct UnitsTests {
    @Test(arguments: [
        ("0", 0), ("512", 512), ("512B", 512), ("512 b", 512),
        ("1KiB", 1024), ("64kib", 64 << 10), ("1 MiB", 1 << 20), ("3GIB", 3 << 30),
        ("1kb", 1024), ("32mb", 32 << 20), ("1Gb", 1 << 30),
        ("1k", 1_000), ("8m", 8_000_000), ("2g", 2_000_000_000), ("2 G", 2_000_000_000),
    ])
    func sizeParses(text: String, bytes: Int) throws {
        #expect(try Units.parseSize(text) == bytes)
    }

    @Test(arguments: ["", " ", "KiB", "-1", "+1", "1.5MiB", "1  MiB", "1 ", " 1", "1TiB", "1 KiB ", "1ki", "1_000", "0x10", "1\u{212A}"])
    func sizeRejectsMalformedText(text: String) {
        #expect(throws: Units.ParseError.invalid) { try Units.parseSize(text) }
    }

    @Test(arguments: ["9223372036854775808", "9223372036854775807KiB", "8589934592GiB", "99999999999999999999999"])
    func sizeRejectsOverflow(text: String) {
        #expect(throws: Units.ParseError.overflow) { try Units.parseSize(text) }
    }

    @Test func largestSizeFits() throws {
        #expect(try Units.parseSize("9223372036854775807") == Int.max)
    }

    @Test(arguments: [
        ("0", Duration.zero), ("60", .seconds(60)), ("60s", .seconds(60)), ("60 S", .seconds(60)),
        ("2m", .seconds(120)), ("1h", .seconds(3600)), ("1H", .seconds(3600)),
        ("250ms", .milliseconds(250)), ("1500MS", .milliseconds(1500)),
    ])
    func durationParses(text: String, duration: Duration) throws {
        #expect(try Units.parseDuration(text) == duration)
    }

    @Test(arguments: ["", "s", "-1s", "1.5s", "1d", "1 min", "1sec", "1 ", "1  s"])
    func durationRejectsMalformedText(text: String) {
        #expect(throws: Units.ParseError.invalid) { try Units.parseDuration(text) }
    }

    @Test func durationRejectsOverflow() {
        #expect(throws: Units.ParseError.overflow) { try Units.parseDuration("9223372036854775807h") }
    }

    @Test(arguments: [
        (0, "0"), (1, "1"), (1000, "1000"), (1024, "1KiB"), (1536, "1536"), (64 << 10, "64KiB"),
        (1 << 20, "1MiB"), (3 << 29, "1536MiB"), (512 << 20, "512MiB"), (1 << 30, "1GiB"), (1 << 40, "1024GiB"),
    ])
    func sizeFormatsInLargestExactBinaryUnit(bytes: Int, text: String) throws {
        #expect(Units.formatSize(bytes) == text)
        #expect(try Units.parseSize(text) == bytes)
    }

    @Test func fractionsParseExactlyInMillionthsAndFormatBack() throws {
        for (text, millionths) in [("0", 0), ("1", 1_000_000), ("0.5", 500_000), ("0.667", 667_000), ("0.000001", 1), ("00.50", 500_000)] {
            #expect(try Units.parseFraction(text) == millionths, "\(text)")
        }
        for bad in ["", ".5", "0.", "0.1234567", "-0.5", "1e-3", "0,5", " 0.5", "0.5 ", "½"] {
            #expect(throws: Units.ParseError.invalid) { try Units.parseFraction(bad) }
        }
        #expect(throws: Units.ParseError.overflow) { try Units.parseFraction("99999999999999999999") }
        for m in [0, 1, 500_000, 667_000, 999_999, 1_000_000, 1_250_000] {
            #expect(try Units.parseFraction(Units.formatFraction(m)) == m, "\(m)")
        }
        #expect(Units.formatFraction(500_000) == "0.5" && Units.formatFraction(1) == "0.000001" && Units.formatFraction(1_000_000) == "1")
    }
}
