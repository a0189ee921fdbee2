-- A corpus of hostile strings for spec/13-hostile_spec.lua: every string that
-- has broken an SQL literal, a JSON text, a JSON path, a LIKE pattern or a
-- UTF-8 decoder somewhere. Returns a list of distinct strings, in a fixed
-- order; the spec decides per use which of them must round-trip and which
-- must be refused.
local corpus, seen = {}, {}

local function add(s)
  if not seen[s] then
    seen[s] = true
    corpus[#corpus + 1] = s
  end
end

-- Every quote a parser might take for a delimiter: ASCII, typographic,
-- full-width (the ones that can fold to ASCII in some charsets) and primes.
local QUOTES = { "'", '"', "`", "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}", "\u{201C}", "\u{201D}",
  "\u{201E}", "\u{2039}", "\u{203A}", "\u{00AB}", "\u{00BB}", "\u{FF07}", "\u{FF02}", "\u{2032}",
  "\u{2033}", "\u{02BC}", "\u{00B4}" }
for _, q in ipairs(QUOTES) do
  for _, s in ipairs { q, q .. q, q .. q .. q, "a" .. q, q .. "a", "a" .. q .. "b", "\\" .. q, q .. "\\",
    q .. " OR " .. q .. "1" .. q .. "=" .. q .. "1" } do
    add(s)
  end
end

-- Backslashes in every position, alone and before what they could escape.
for _, s in ipairs { "\\", "\\\\", "\\\\\\", "a\\", "\\a", "a\\b", "a\\\\", "\\\\a", "\\0", "\\n", "\\r",
  "\\Z", "\\%", "\\_", "\\x00", "\\u0000", "\\\\'", "'\\\\", "\\'\\'", "x\\", "x\\\\\\" } do
  add(s)
end

-- LIKE wildcards
for _, s in ipairs { "%", "_", "%%", "__", "a%b", "_a_", "%_%", "100%", "%'%", "_%\\" } do add(s) end

-- NUL bytes at the start, in the middle, at the end, and next to escapes
for _, s in ipairs { "\0", "\0\0\0", "\0a", "a\0", "a\0b", "'\0'", "\\\0", "\0\\", "\0'", "%\0_" } do
  add(s)
end

-- every other ASCII control character, alone and inside text
for c = 1, 31 do
  add(string.char(c))
  add("a" .. string.char(c) .. "b")
end
add("\127")
for _, s in ipairs { "\26", "a\26b", "\\\26", "\r\n", "a\r\nb", "\n\r", "line1\nline2\n", "\r\n.\r\n" } do
  add(s)
end

-- invalid UTF-8: lone continuation bytes, overlong forms, UTF-8-encoded
-- surrogates, truncated sequences, bytes that never occur, code points past
-- U+10FFFF, and the GBK/SJIS trick of a lead byte eating the backslash
for _, s in ipairs {
  "\x80", "\xbf", "a\x80b", "\x80\x80\x80", "\xc0\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
  "\xe0\x9f\xbf", "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
  "\xed\xa0\xbd\xed\xb8\x80", "\xc3", "a\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xf0\x9f", "\xf4\x90\x80\x80",
  "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xff\xfe", "\xfe\xff", "abc\xff",
  "\xc3\x28", "\xe2\x28\xa1", "\xbf'", "\xbf\\'", "\x81\\'", "\xa1\x5c", "'\xff'", "\0\xff",
} do
  add(s)
end

-- Multibyte charsets in which a byte 0x81-0xFE starts a two-byte character
-- whose second byte may be 0x5C (a backslash): GBK (lead 0x81-0xFE), Big5
-- (lead 0xA1-0xF9), SJIS and CP932 (lead 0x81-0x9F, 0xE0-0xFC). In a session
-- in one of them, a lead byte before the backslash that escapes a quote eats
-- the backslash, and the quote ends the literal. First the raw bytes (never
-- valid UTF-8: refused before any SQL) ...
for _, lead in ipairs { 0x81, 0x8f, 0x95, 0x9f, 0xa1, 0xad, 0xbf, 0xc0, 0xe0, 0xf9, 0xfc, 0xfe } do
  local c = string.char(lead)
  for _, s in ipairs { c .. "\\", c .. "'", c .. "\\'", c .. "\\\\'", c .. "' OR 1=1 -- ",
    c .. "\\' OR 1=1) -- ", "'" .. c .. "'" } do
    add(s)
  end
end
-- ... then valid UTF-8 whose character before the quote ends in such a lead
-- byte (丁 E4 B8 81, 丟 ..9F, 中 ..AD, ¡ C2 A1, ¿ C2 BF, é C3 A9, ā C4 81,
-- ゟ E3 82 9F, ｡ EF BD A1, 🎉 F0 9F 8E 89): the strings that get through a
-- check for valid UTF-8 and still break byte-wise escaping in those sessions
for _, ch in ipairs { "\u{4E01}", "\u{4E1F}", "\u{4E2D}", "\u{A1}", "\u{BF}", "\u{E9}", "\u{101}", "\u{309F}",
  "\u{FF61}", "\u{1F389}" } do
  for _, tail in ipairs { "'", "\\", "\\'", "' OR 1=1 -- ", "' OR 1=1) -- ", "') OR ('1'='1",
    "'; DROP TABLE sentinel; -- " } do
    add(ch .. tail)
  end
end
-- ... and characters whose encoding in those charsets has 0x5C as its second
-- byte (GBK 乗 815C, ‐ A95C; Big5 么 A45C, 許 B35C, 功 A55C; SJIS/CP932 ソ 835C,
-- 表 955C, 十 8F5C, ― 815C; CP932 Ⅸ 875C): text a conversion through the
-- session charset could split at its backslash
for _, ch in ipairs { "\u{4E57}", "\u{2010}", "\u{4E48}", "\u{8A31}", "\u{529F}", "\u{30BD}", "\u{8868}",
  "\u{5341}", "\u{2015}", "\u{2168}" } do
  for _, s in ipairs { ch, ch .. "'", ch .. "\\", "'" .. ch .. "'", ch .. "' OR 1=1 -- " } do add(s) end
end

-- long strings (ids of more than 254 bytes are refused on MariaDB)
add(("x"):rep(254))
add(("x"):rep(255))
add(("\u{e9}"):rep(127))                -- 254 bytes of 2-byte characters
add(("\u{e9}"):rep(128))                -- 256 bytes
add(("'"):rep(254))
add(("\\"):rep(253) .. "'")
add(("\0"):rep(254))
add(("x"):rep(513))
add(("'"):rep(64 * 1024))
add(("\\"):rep(64 * 1024))
add(("\u{1F389}"):rep(16 * 1024))       -- 64 KiB of 4-byte characters
add(("'; DROP TABLE sentinel; -- "):rep(2500))
add(("abc\0\\'\"%_\n"):rep(math.floor(1024 * 1024 / 10) + 1)) -- a 1 MiB document

-- SQL comments and injections
for _, s in ipairs {
  "--", "-- ", "--\n", "a -- b", "/*", "*/", "/* */", "/*", "/*!50000 DROP TABLE sentinel */",
  "/*!*/", "#", "# comment\n", "a#b",
  "'; DROP TABLE sentinel; --", "\\'; DROP TABLE sentinel; --", "\"; DROP TABLE sentinel; --",
  "`; DROP TABLE sentinel; --", "'); DROP TABLE sentinel; --", "' OR '1'='1", "' OR 1=1 -- ",
  "\" OR \"\"=\"", "') OR ('a'='a", "1; SELECT SLEEP(5)", "x' AND SLEEP(5) AND 'x",
  "' UNION SELECT _id, document FROM sentinel -- ", "'||(SELECT 1)||'", "0x41", "X'41'",
  "_binary'x'", "N'x'", "CHAR(39)", "@@version", "@a:=1", "${x}", "?", "??", ":1", "$1",
  "';\nDROP TABLE sentinel;\n--", "\\\\'; DROP TABLE sentinel; -- ", "' -- \\",
} do
  add(s)
end

-- full-text search syntax (where_document.$contains is a MATCH ... AGAINST)
for _, s in ipairs { " *", "* ", "a*", "+a -b", "\"a b\"", "@2", "a @3", "(a)", "~a", ">a <b" } do add(s) end

-- JSON-breaking text (as data, these must come back as they went in)
for _, s in ipairs {
  '"}]', '"}', '"]', "{", "}", "[", "]", "[]", "{}", '{"a":1}', '"},{"a":1}', '\\"', '\\u0000',
  "\\ud800", "\\udc00", "\\ud83d\\ude00", "null", "true", "false", "1e999", "-0", "NaN", "Infinity",
  '{"$eq":1}', "\u{2028}", "\u{2029}", "a\u{2028}b", "\u{0085}", "</script>",
} do
  add(s)
end

-- path-breaking metadata keys (and the same as values)
for _, s in ipairs {
  "a.b", "$", "$.x", "$.", "$[0]", "$.a[0]", "$**", "$.*", "*", "**", "[0]", "[*]", "a[0]", "[",
  ".", "..", "a..b", ".a", "a.", "$$", "@", "@.a", " ", "  leading", "trailing  ", "a b", "\t", "-",
  "a-b", "0", "1e3", "0x10", "last", "a\"b", "a'b", "a`b", "a\\b", "é", "ключ", "日本語", "a/b",
  "~", "!", "a,b", "(a)", "a:b", "a=b", "a;b", "&", "|",
} do
  add(s)
end

-- unicode that renders oddly or not at all
for _, s in ipairs {
  "\u{1F389}", "\u{1F600}\u{1F601}", "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}",
  "\u{1F1EB}\u{1F1F7}", "\u{1F44D}\u{1F3FD}", "\u{200F}", "\u{200E}", "\u{202E}abc", "\u{202E}'--",
  "\u{200D}", "\u{200B}", "a\u{200B}b", "\u{FEFF}", "\u{FEFF}'", "e\u{301}", "\u{E9}", "a\u{300}\u{301}\u{302}\u{303}",
  "Z\u{36B}\u{33F}\u{344}\u{358}a\u{34A}\u{35B}l\u{36D}g\u{35E}o", "\u{645}\u{631}\u{62D}\u{628}\u{627}",
  "\u{5E9}\u{5DC}\u{5D5}\u{5DD}", "\u{65E5}\u{672C}\u{8A9E} \u{2603} \u{1F389}", "\u{FFFD}", "\u{FFFF}",
  "\u{FFFE}", "\u{10FFFF}", "\u{E000}", "\u{1D518}\u{1D52B}\u{1D526}", "\u{FF3C}", "\u{FF1B}",
  "\u{2215}", "\u{2044}", "\u{0130}", "\u{0131}", "\u{00DF}", "SS", "\u{1E9E}", "\u{3000}", "\u{00A0}",
  "\u{2800}", "\u{115F}", "\u{034F}",
} do
  add(s)
end

-- the empty string, and plain ones that collide under case or pad-space collations
for _, s in ipairs { "", "a", "A", "a ", "a  ", " a", "x", "X", "x\0" } do add(s) end

return corpus
