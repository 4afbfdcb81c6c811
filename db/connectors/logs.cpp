// SQL implementation of Logs: step output stored as numbered lines in chunks (logchunks), some
// compressed with Buildbot's codecs (and zstd); and the chunk helpers that the fake shares (db/connectors/logs_util.hpp).
#include "db/connectors/logs.hpp"

#include <bzlib.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <boost/asio/thread_pool.hpp>

#include "db/async.hpp"

#include "db/connectors/logs_util.hpp"
#include "db/connectors/sql.hpp"

namespace ym::db {

// ------------------------------------------------------------------ chunk helpers
namespace internal {

namespace {
// The longest prefix of valid UTF-8 `line` that is at most `max` bytes and ends on a character
// boundary.
size_t cut_at_character(std::string_view line, size_t max) {
  if (line.size() <= max) return line.size();
  size_t pos = max;
  // Continuation bytes are 10xxxxxx: step back to the start of the character at `pos`.
  while (pos > 0 && (static_cast<unsigned char>(line[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

[[noreturn]] void unreadable(const std::string& where, const std::string& why) {
  throw UnreadableLogChunk(where + " cannot be read: " + why);
}

// Output grows in steps up to kMaxDecodedChunkBytes; past it the chunk is refused.
void grow(std::string& out, size_t used, const std::string& where) {
  if (out.size() >= kMaxDecodedChunkBytes) {
    unreadable(where, "it decodes to more than " + std::to_string(kMaxDecodedChunkBytes) +
                          " bytes");
  }
  out.resize(std::min(kMaxDecodedChunkBytes, std::max<size_t>(used * 2, 64 * 1024)));
}

// Code 1: zlib.compress's format (a zlib stream; a gzip header is accepted too).
std::string zlib_encode(std::string_view text) {
  uLongf n = compressBound(text.size());
  std::string out(n, '\0');
  int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &n,
                     reinterpret_cast<const Bytef*>(text.data()), text.size(), 9);
  if (rc != Z_OK) throw InternalError("zlib compression failed: " + std::to_string(rc));
  out.resize(n);
  return out;
}

std::string zlib_decode(std::string_view data, const std::string& where) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) throw InternalError("zlib: inflateInit2 failed");
  std::string out;
  size_t used = 0;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (used == out.size()) grow(out, used, where);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(out.size() - used);
    rc = inflate(&z, Z_NO_FLUSH);
    used = out.size() - z.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_out == 0)) {
      std::string msg = z.msg ? z.msg : (rc == Z_BUF_ERROR ? "truncated data" : "zlib error");
      inflateEnd(&z);
      unreadable(where, "gzip (zlib) data: " + msg);
    }
  }
  inflateEnd(&z);
  out.resize(used);
  return out;
}

// Code 2: bz2.compress's format (one or more bzip2 streams, as Python reads them).
std::string bzip2_encode(std::string_view text) {
  unsigned int n = static_cast<unsigned int>(text.size() + text.size() / 100 + 601);
  std::string out(n, '\0');
  int rc = BZ2_bzBuffToBuffCompress(out.data(), &n, const_cast<char*>(text.data()),
                                    static_cast<unsigned int>(text.size()), 9, 0, 0);
  if (rc != BZ_OK) throw InternalError("bzip2 compression failed: " + std::to_string(rc));
  out.resize(n);
  return out;
}

std::string bzip2_decode(std::string_view data, const std::string& where) {
  std::string out;
  size_t used = 0;
  size_t offset = 0;
  do {
    bz_stream b{};
    if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK) throw InternalError("bzip2: init failed");
    b.next_in = const_cast<char*>(data.data() + offset);
    b.avail_in = static_cast<unsigned int>(data.size() - offset);
    int rc = BZ_OK;
    while (rc != BZ_STREAM_END) {
      if (used == out.size()) grow(out, used, where);
      b.next_out = out.data() + used;
      b.avail_out = static_cast<unsigned int>(out.size() - used);
      rc = BZ2_bzDecompress(&b);
      used = out.size() - b.avail_out;
      if (rc == BZ_OK && b.avail_in == 0 && b.avail_out > 0) rc = BZ_UNEXPECTED_EOF;
      if (rc != BZ_OK && rc != BZ_STREAM_END) {
        BZ2_bzDecompressEnd(&b);
        unreadable(where, "bzip2 data: " + std::string(rc == BZ_UNEXPECTED_EOF
                                                           ? "truncated data"
                                                           : "error " + std::to_string(rc)));
      }
    }
    offset = data.size() - b.avail_in;
    BZ2_bzDecompressEnd(&b);
  } while (offset < data.size());
  out.resize(used);
  return out;
}

// Code 3: lz4.block.compress's format: the text's size (4 bytes, little-endian), then one LZ4
// block.
std::string lz4_encode(std::string_view text) {
  if (text.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
    throw InternalError("lz4: a chunk of " + std::to_string(text.size()) + " bytes is too large");
  }
  std::string out(4 + LZ4_compressBound(static_cast<int>(text.size())), '\0');
  uint32_t size = static_cast<uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((size >> (8 * i)) & 0xFF);
  int n = LZ4_compress_default(text.data(), out.data() + 4, static_cast<int>(text.size()),
                               static_cast<int>(out.size() - 4));
  if (n <= 0 && !text.empty()) throw InternalError("lz4 compression failed");
  out.resize(4 + static_cast<size_t>(std::max(n, 0)));
  return out;
}

std::string lz4_decode(std::string_view data, const std::string& where) {
  if (data.size() < 4) unreadable(where, "lz4 data shorter than its size header");
  uint32_t size = 0;
  for (int i = 0; i < 4; ++i) size |= static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << (8 * i);
  if (size > kMaxDecodedChunkBytes || size > static_cast<uint32_t>(LZ4_MAX_INPUT_SIZE)) {
    unreadable(where, "lz4 data claims " + std::to_string(size) + " bytes");
  }
  std::string out(size, '\0');
  int n = LZ4_decompress_safe(data.data() + 4, out.data(), static_cast<int>(data.size() - 4),
                              static_cast<int>(size));
  if (n < 0 || static_cast<uint32_t>(n) != size) unreadable(where, "damaged lz4 data");
  return out;
}

// Code 4: zstd frames. Read as a stream, so that frames without their content size (Buildbot
// 4's streaming compressor writes those) and several frames in a row read too.
// Each thread keeps one compression and one decompression context: making one per chunk (what
// ZSTD_compress does) costs more than compressing a chunk of a few KiB.
std::string zstd_encode(std::string_view text) {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(),
                                                                      &ZSTD_freeCCtx);
  if (!cctx) throw InternalError("zstd: out of memory");
  std::string out(ZSTD_compressBound(text.size()), '\0');
  size_t n = ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), text.data(), text.size(), 3);
  if (ZSTD_isError(n)) {
    throw InternalError(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

std::string zstd_decode(std::string_view data, const std::string& where) {
  thread_local std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(),
                                                                           &ZSTD_freeDStream);
  if (!ds) throw InternalError("zstd: out of memory");
  ZSTD_initDStream(ds.get());  // a new session: whatever an earlier (failed) read left is reset
  std::string out;
  size_t used = 0;
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  size_t pending = 1;  // 0 once a frame is complete
  while (in.pos < in.size || pending != 0) {
    if (used == out.size()) grow(out, used, where);
    ZSTD_outBuffer o{out.data(), out.size(), used};
    size_t before_in = in.pos;
    pending = ZSTD_decompressStream(ds.get(), &o, &in);
    if (ZSTD_isError(pending)) unreadable(where, std::string("zstd data: ") + ZSTD_getErrorName(pending));
    bool progressed = o.pos != used || in.pos != before_in;
    used = o.pos;
    if (in.pos == in.size && pending != 0 && !progressed && used < out.size()) {
      unreadable(where, "zstd data: truncated frame");
    }
  }
  out.resize(used);
  return out;
}
}  // namespace

std::string chunk_name(int64_t logid, int64_t first_line) {
  return "log " + std::to_string(logid) + ", chunk at line " + std::to_string(first_line);
}

std::vector<ChunkText> prepare_log_content(std::string_view content) {
  if (content.empty() || content.back() != '\n') {
    throw InvalidArgument("log content must end with a newline");
  }
  // Replacing bytes never touches a '\n' (it is never part of a multi-byte sequence), so the
  // whole content can be cleaned before it is split.
  std::string clean = sanitize_utf8(content);
  std::vector<ChunkText> chunks;
  ChunkText current;
  std::string_view rest(clean);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    line = line.substr(0, cut_at_character(line, kMaxLogLineBytes));
    // Buildbot's rule: a chunk is the longest run of whole lines whose joined text is shorter
    // than MAX_CHUNK_SIZE.
    if (current.lines > 0 && current.text.size() + 1 + line.size() >= kLogChunkBytes) {
      chunks.push_back(std::move(current));
      current = ChunkText{};
    }
    if (current.lines > 0) current.text.push_back('\n');
    current.text.append(line);
    ++current.lines;
  }
  if (current.lines > 0) chunks.push_back(std::move(current));
  return chunks;
}

std::string as_read(const std::vector<ChunkText>& chunks) {
  std::string out;
  for (const auto& c : chunks) {
    out += c.text;
    out.push_back('\n');
  }
  return out;
}

bool known_code(int64_t code) { return code >= 0 && code <= 4; }

std::string encode_chunk(std::string_view text, LogCompression codec) {
  switch (codec) {
    case LogCompression::kNone: return std::string(text);
    case LogCompression::kGzip: return zlib_encode(text);
    case LogCompression::kBzip2: return bzip2_encode(text);
    case LogCompression::kLz4: return lz4_encode(text);
    case LogCompression::kZstd: return zstd_encode(text);
  }
  throw InvalidArgument("unknown log compression " + std::to_string(static_cast<int>(codec)));
}

std::string decode_chunk(std::string_view data, int64_t code, const std::string& where) {
  switch (code) {
    case 0: return std::string(data);
    case 1: return zlib_decode(data, where);
    case 2: return bzip2_decode(data, where);
    case 3: return lz4_decode(data, where);
    case 4: return zstd_decode(data, where);
    default:
      unreadable(where, "unknown compression code " + std::to_string(code) +
                            " (known: 0 none, 1 gzip, 2 bzip2, 3 lz4, 4 zstd)");
  }
}

void append_lines(std::string_view text, int64_t chunk_first, int64_t chunk_last, int64_t first,
                  int64_t last, std::string& out) {
  // Lines are numbered from the chunk's first line. A chunk holding fewer lines than its range
  // (Buildbot 3.7 writes such chunks: an append of "\n" alone stores no chunk, and its
  // compressLog then merges the chunks around the gap) reads its missing lines as empty lines
  // at its end, so that every line of the range is there once; lines beyond the range are not
  // read.
  size_t pos = 0;
  for (int64_t line = chunk_first; line <= last && line <= chunk_last; ++line) {
    size_t end = pos > text.size() ? pos : text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    if (line >= first && pos <= text.size()) out.append(text.substr(pos, end - pos));
    if (line >= first) out.push_back('\n');
    pos = end + 1;
  }
}

std::optional<ChunkMerge> merge_run(int64_t logid, const CompressionRun& run,
                                    const std::vector<std::string_view>& stored,
                                    LogCompression codec) {
  std::string raw;
  raw.reserve(run.bytes() + stored.size());
  size_t stored_bytes = 0;
  bool any_encoded = false;
  for (size_t i = 0; i < stored.size(); ++i) {
    stored_bytes += stored[i].size();
    if (i > 0) raw.push_back('\n');
    const int64_t code = run.codes()[i];
    std::string decoded;
    if (code != 0) {
      any_encoded = true;
      decoded = decode_chunk(stored[i], code, chunk_name(logid, run.firsts()[i]));
    }
    std::string_view text = code == 0 ? stored[i] : std::string_view(decoded);
    // Merged, a chunk holds exactly the lines of its range, as append_lines reads them.
    const int64_t want = run.lasts()[i] - run.firsts()[i] + 1;
    int64_t held = 1;
    size_t cut = text.size();
    for (size_t p = 0; p < text.size(); ++p) {
      if (text[p] == '\n' && ++held > want) {
        cut = p;
        break;
      }
    }
    raw.append(text.substr(0, cut));
    if (held < want) raw.append(static_cast<size_t>(want - held), '\n');
  }
  ChunkMerge m;
  m.first_line = run.firsts().front();
  m.last_line = run.lasts().back();
  m.replaced = run.firsts();
  m.replaced_last = run.lasts();
  m.replaced_code = run.codes();
  if (codec != LogCompression::kNone) {
    std::string packed = encode_chunk(raw, codec);
    // Buildbot's rule: compressed only when that is smaller than the plain text.
    if (packed.size() < raw.size()) {
      m.content = std::move(packed);
      m.code = static_cast<int64_t>(codec);
    }
  }
  if (m.code == 0) {
    if (stored.size() == 1 && !any_encoded) return std::nullopt;  // a lone plain chunk stays
    m.content = std::move(raw);
  }
  m.saved = static_cast<int64_t>(stored_bytes) - static_cast<int64_t>(m.content.size());
  return m;
}

std::optional<RewrittenChunk> rewrite_old_chunk(std::string_view content, int64_t code,
                                                int64_t lines, const std::string& where) {
  auto newlines = [](std::string_view t) {
    return static_cast<int64_t>(std::count(t.begin(), t.end(), '\n'));
  };
  // Old plain chunk: one newline per line, the last at the end.
  if (code == 0) {
    if (content.empty() || content.back() != '\n' || newlines(content) != lines) return std::nullopt;
    return RewrittenChunk{std::string(content.substr(0, content.size() - 1)), 0};
  }
  // Earlier versions wrote only zstd, as code 1 (Buildbot's gzip code). A code-1 chunk that is not
  // a zstd frame is a real zlib chunk and stays.
  static constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  if (code != 1 || content.size() < 4 || std::memcmp(content.data(), kZstdMagic, 4) != 0) {
    return std::nullopt;
  }
  std::string text = decode_chunk(content, 4, where);
  if (!text.empty() && text.back() == '\n' && newlines(text) == lines) {
    text.pop_back();
    return RewrittenChunk{encode_chunk(text, LogCompression::kZstd), 4};
  }
  return RewrittenChunk{std::string(content), 4};  // already without its final newline
}

std::vector<ChunkMerge> plan_compression(int64_t logid, const std::vector<StoredChunk>& chunks,
                                         LogCompression codec, bool force) {
  std::vector<ChunkMerge> plan;
  CompressionRun run;
  std::vector<std::string_view> texts;
  auto close = [&] {
    if (run.empty()) return;
    if (auto m = merge_run(logid, run, texts, codec)) plan.push_back(std::move(*m));
    run = CompressionRun{};
    texts.clear();
  };
  for (const StoredChunk& c : chunks) {
    if (!compressible(c.code, codec, force)) {
      close();
      continue;
    }
    ChunkSpan span{c.first_line, c.last_line, c.content.size(), c.code};
    if (!run.accepts(span)) close();
    run.add(span);
    texts.push_back(c.content);
  }
  close();
  return plan;
}

}  // namespace internal

// ------------------------------------------------------------------ the connector
namespace {

constexpr const char* kSelect =
    "SELECT id, name, slug, stepid, complete, num_lines, type FROM logs";
// Logs marked deleted per transaction by delete_old_log_chunks.
constexpr int64_t kDeleteBatch = 100;
// Chunks whose place and size compress_log lists per query (a few dozen bytes each).
constexpr int64_t kSpanPage = 1024;
// Times one append statement may find that the log moved on (a concurrent append got there
// first) before the whole call is retried with a backoff.
constexpr int kAppendRaces = 16;
// Logs whose next line number NextLines remembers; past this it forgets them all.
constexpr size_t kMaxLineHints = 4096;
// The open logs whose text OpenLogTexts keeps (past this it forgets them all), and the text it
// keeps in all. Logs that were never finished (a build cut off) are forgotten that way.
constexpr size_t kMaxOpenLogTexts = 4096;
constexpr size_t kOpenLogTextBytes = 32u * 1024 * 1024;

Log read_log(const Row& r) {
  return Log{r.get<int64_t>(0), r.get<std::string>(1), r.get<std::string>(2), r.get<int64_t>(3),
             r.get<bool>(4),    r.get<int64_t>(5),     r.get<std::string>(6)};
}

// Decoded text of a chunk row (first_line, last_line, content, compressed).
std::string chunk_text(const Row& r, int64_t logid) {
  auto content = r.get<std::optional<Blob>>(2);
  if (!content) return {};
  int64_t code = r.get<int64_t>(3);
  if (code == 0) return std::move(content->bytes);
  return internal::decode_chunk(content->bytes, code,
                                internal::chunk_name(logid, r.get<int64_t>(0)));
}

// Lines first..last of the log, read from only the chunks that overlap the range (index
// logchunks_last_line and the unique (logid, first_line)); one statement, so a concurrent
// compress_log is seen wholly or not.
std::string read_lines(Connection& c, int64_t logid, int64_t first, int64_t last) {
  std::string out;
  for (const Row& r : c.stmt("SELECT first_line, last_line, content, compressed "
                             "FROM logchunks WHERE logid = ? AND first_line <= ? "
                             "AND last_line >= ? ORDER BY first_line")
                          .bind(logid, last, first)
                          .all()) {
    internal::append_lines(chunk_text(r, logid), r.get<int64_t>(0), r.get<int64_t>(1), first, last,
                           out);
  }
  return out;
}

// The next line number of the logs this Db appended to lately, so that a server append can name
// the line its text goes to before it sends it (see append_log). A stale hint costs one re-read.
class NextLines {
 public:
  std::optional<int64_t> get(int64_t logid) {
    std::lock_guard lock(mu_);
    auto it = next_.find(logid);
    if (it == next_.end()) return std::nullopt;
    return it->second;
  }
  void set(int64_t logid, int64_t next) {
    std::lock_guard lock(mu_);
    if (next_.size() >= kMaxLineHints && !next_.count(logid)) next_.clear();
    next_[logid] = next;
  }
  void erase(int64_t logid) {
    std::lock_guard lock(mu_);
    next_.erase(logid);
  }

 private:
  std::mutex mu_;
  std::unordered_map<int64_t, int64_t> next_;
};

// The text this Db appended to each log that is still open, from its line 0, so that
// compressing the log once it is finished needs no read of its chunks. Kept only while it is
// all of the log so far, fits one compression run and stays within a total budget; a log
// appended to by anyone else (an append that does not start where ours ended), or larger,
// is forgotten and compressed from its stored chunks instead. The text is the appends' own
// (shared, not copied), exactly what was stored: plain chunks, code 0.
class OpenLogTexts {
 public:
  struct Text {
    internal::CompressionRun run;  // the places of the chunks, as compress_log would gather them
    std::vector<std::shared_ptr<const std::vector<internal::ChunkText>>> appends;
  };

  // An append that committed at lines `first`...
  void appended(int64_t logid, int64_t first,
                std::shared_ptr<const std::vector<internal::ChunkText>> chunks) {
    std::lock_guard lock(mu_);
    auto it = logs_.find(logid);
    if (it == logs_.end()) {
      if (first != 0) return;  // not the log's start: someone else's text came first
      if (logs_.size() >= kMaxOpenLogTexts) clear_locked();
      it = logs_.emplace(logid, Entry{}).first;
    }
    Entry& e = it->second;
    if (e.dropped) return;
    int64_t next = e.text.run.empty() ? 0 : e.text.run.lasts().back() + 1;
    bool fits = first == next;
    size_t bytes = 0;
    for (const auto& c : *chunks) bytes += c.text.size();
    if (fits && bytes_ + bytes > kOpenLogTextBytes) fits = false;
    internal::CompressionRun run = e.text.run;
    for (const auto& c : *chunks) {
      if (!fits) break;
      internal::ChunkSpan span{next, next + c.lines - 1, c.text.size(), 0};
      if (!run.accepts(span)) fits = false;
      run.add(span);
      next += c.lines;
    }
    if (!fits) {
      drop_locked(e);
      return;
    }
    e.text.run = std::move(run);
    e.text.appends.push_back(std::move(chunks));
    e.bytes += bytes;
    bytes_ += bytes;
  }
  // The log's text, if this Db holds all of it; forgets the log either way.
  std::optional<Text> take(int64_t logid) {
    std::lock_guard lock(mu_);
    auto it = logs_.find(logid);
    if (it == logs_.end()) return std::nullopt;
    std::optional<Text> out;
    if (!it->second.dropped && !it->second.text.run.empty()) out = std::move(it->second.text);
    bytes_ -= it->second.bytes;
    logs_.erase(it);
    return out;
  }

 private:
  struct Entry {
    Text text;
    size_t bytes = 0;
    bool dropped = false;  // kept so that a later append does not start it again
  };
  void drop_locked(Entry& e) {
    bytes_ -= e.bytes;
    e = Entry{};
    e.dropped = true;
  }
  void clear_locked() {
    logs_.clear();
    bytes_ = 0;
  }

  std::mutex mu_;
  std::unordered_map<int64_t, Entry> logs_;
  size_t bytes_ = 0;
};

// What the attempts of one append_log call (they run one after another) know of each other: the
// first line number of every write that one of them sent. When a reply to a write was lost, the
// text may be stored at one of these places, and nowhere else.
struct AppendAttempts {
  std::shared_ptr<const std::vector<internal::ChunkText>> chunks;
  int64_t added = 0;
  std::vector<int64_t> sent;

  // Records a write about to be sent; false when an earlier one was sent to the same place.
  bool sending(int64_t first) {
    if (std::find(sent.begin(), sent.end(), first) != sent.end()) return false;
    sent.push_back(first);
    return true;
  }

  // After a lost reply: the lines of the write that went through, if one did (the lines at one
  // of the places sent, exactly this text, whether compressed since or not).
  std::optional<LineRange> find_stored(Connection& c, int64_t logid) const {
    if (sent.empty()) return std::nullopt;
    auto lines = c.stmt("SELECT num_lines FROM logs WHERE id = ?").bind(logid).scalar<int64_t>();
    if (!lines) return std::nullopt;
    const std::string text = internal::as_read(*chunks);
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      int64_t first = *it;
      if (first + added > *lines) continue;
      if (read_lines(c, logid, first, first + added - 1) == text) {
        return LineRange{first, first + added - 1};
      }
    }
    return std::nullopt;
  }
};

class SqlLogs final : public Logs {
 public:
  explicit SqlLogs(internal::Context& ctx) : ctx_(ctx) {}
  // Waits for compressions in progress (the pool is shut down first, so they end quickly).
  ~SqlLogs() override { compressor_.join(); }

  Future<std::optional<Log>> get_log(int64_t logid) override {
    return one(" WHERE id = ?", {logid});
  }

  Future<std::optional<Log>> get_log_by_slug(int64_t stepid, std::string slug) override {
    return one(" WHERE stepid = ? AND slug = ?", {stepid, slug});
  }

  Future<std::vector<Log>> get_logs(std::optional<int64_t> stepid) override {
    return ctx_.pool.run([stepid](Connection& c) {
      std::vector<Log> out;
      auto rows = stepid ? c.stmt(std::string(kSelect) + " WHERE stepid = ? ORDER BY id")
                               .bind(*stepid)
                               .all()
                         : c.stmt(std::string(kSelect) + " ORDER BY id").all();
      for (const Row& r : rows) out.push_back(read_log(r));
      return out;
    });
  }

  Future<std::string> get_log_lines(int64_t logid, int64_t first_line, int64_t last_line) override {
    first_line = std::max<int64_t>(first_line, 0);  // no line comes before line 0
    if (last_line < first_line) return make_ready_future(std::string());
    return ctx_.pool.run([logid, first_line, last_line](Connection& c) {
      return read_lines(c, logid, first_line, last_line);
    });
  }

  Future<int64_t> add_log(int64_t stepid, std::string name, std::string slug,
                          std::string type) override {
    try {
      // The type first, as Buildbot's addLog asserts it before anything else.
      internal::check_log_type(type);
      check_identifier("log slug", slug, kLogSlugMax);
      if (!is_valid_utf8(name)) throw InvalidArgument("log name is not valid UTF-8");
    } catch (const Error&) {
      return make_exceptional_future<int64_t>(std::current_exception());
    }
    auto hints = use_hints() ? hints_ : nullptr;
    return ctx_.pool.transaction([stepid, name, slug, type, hints](Connection& c) {
      if (!c.stmt("SELECT 1 FROM steps WHERE id = ?").bind(stepid).one()) {
        throw NotFound("no step with id " + std::to_string(stepid));
      }
      auto taken = [&] {
        return AlreadyExists("step " + std::to_string(stepid) + " already has a log '" + slug +
                             "'");
      };
      if (c.stmt("SELECT 1 FROM logs WHERE stepid = ? AND slug = ?").bind(stepid, slug).one()) {
        throw taken();
      }
      try {
        int64_t id = c.stmt(
                          "INSERT INTO logs (name, slug, stepid, complete, num_lines, type) "
                          "VALUES (?, ?, ?, 0, 0, ?)")
                         .bind(name, slug, stepid, type)
                         .insert();
        // Its first append then needs no read (a rolled-back insert leaves a harmless hint).
        if (hints) hints->set(id, 0);
        return id;
      } catch (const UniqueViolation&) {
        throw taken();  // a concurrent add_log of the same slug won
      }
    });
  }

  // A reply lost after the write was committed must neither double the lines nor drop them: the
  // call is submitted with Unknown::kRetry, and an attempt that follows a lost reply first looks
  // for the text where an earlier attempt sent it (AppendAttempts), returning that range when it
  // is there. For that, every write names its first line before it is sent: in the transaction
  // the reservation tells it before COMMIT; the one-statement form reserves the line it names
  // (num_lines = expected) and does nothing when the log has moved on.
  Future<std::optional<LineRange>> append_log(int64_t logid, std::string content) override {
    // Cleaning and cutting (the costly part) happen here, on the caller's thread.
    std::vector<internal::ChunkText> chunks;
    try {
      chunks = internal::prepare_log_content(content);
    } catch (const Error&) {
      return make_exceptional_future<std::optional<LineRange>>(std::current_exception());
    }
    auto attempts = std::make_shared<AppendAttempts>();
    attempts->chunks = std::make_shared<const std::vector<internal::ChunkText>>(std::move(chunks));
    for (const auto& chunk : *attempts->chunks) attempts->added += chunk.lines;
    if (attempts->chunks->size() == 1 && use_hints()) {
      // The usual append (one chunk) as one statement: one round trip, atomic by itself.
      return remembered(logid, attempts->chunks,
                        ctx_.pool.write_one(
                            [logid, attempts, hints = hints_](Connection& c) {
                              return append_one(c, logid, *attempts, *hints);
                            },
                            Unknown::kRetry));
    }
    auto hints = use_hints() ? hints_ : nullptr;
    return remembered(logid, attempts->chunks, ctx_.pool.transaction(
        [logid, attempts, hints](Connection& c) -> std::optional<LineRange> {
          const int64_t added = attempts->added;
          if (Pool::commit_outcome_unknown() && !attempts->sent.empty()) {
            // Lock the log's row first: a commit of ours that the server is still finishing is
            // then visible to the look that follows, instead of landing after a second copy.
            c.stmt("UPDATE logs SET num_lines = num_lines WHERE id = ?").bind(logid).exec();
            if (auto stored = attempts->find_stored(c, logid)) return stored;
          }
          // Reserve the line numbers first: the UPDATE locks the log's row, so that appends to
          // one log queue up here instead of colliding on the line numbers.
          std::optional<int64_t> end;
          if (c.dialect().update_returning) {
            end = c.stmt("UPDATE logs SET num_lines = num_lines + ? WHERE id = ? "
                         "RETURNING num_lines")
                      .bind(added, logid)
                      .scalar<int64_t>();
          } else {
            auto before = c.stmt("SELECT num_lines FROM logs WHERE id = ? FOR UPDATE")
                              .bind(logid)
                              .scalar<int64_t>();
            if (before) {
              c.stmt("UPDATE logs SET num_lines = ? WHERE id = ?")
                  .bind(*before + added, logid)
                  .exec();
              end = *before + added;
            }
          }
          if (!end) return std::nullopt;
          int64_t first = *end - added;
          attempts->sending(first);  // known before COMMIT, whatever becomes of its reply
          int64_t next = first;
          for (const auto& chunk : *attempts->chunks) {
            c.stmt(
                 "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
                 "VALUES (?, ?, ?, ?, 0)")
                .bind(logid, next, next + chunk.lines - 1, Blob{chunk.text})
                .exec();
            next += chunk.lines;
          }
          if (hints) hints->set(logid, next);  // stale if rolled back: costs one re-read
          return LineRange{first, next - 1};
        },
        Unknown::kRetry));
  }

  // An idempotent update: a repeat after a lost reply sets the same flag again.
  Future<void> finish_log(int64_t logid) override {
    hints_->erase(logid);
    auto done = ctx_.pool.write_one(
        [logid](Connection& c) {
          c.stmt("UPDATE logs SET complete = 1 WHERE id = ?").bind(logid).exec();
        },
        Unknown::kRetry);
    if (!ctx_.compress_finished_logs) return done;
    // The caller learns the result at once; the compression follows in the background (Db's
    // shutdown waits for it). Until it commits, the log reads the same from its plain chunks.
    return done.then([this, logid](Future<void> f) {
      auto text = texts_->take(logid);
      f.get();
      compress_in_background(logid, std::move(text));
    });
  }

  Future<int64_t> compress_log(int64_t logid, bool force) override {
    Pool& pool = ctx_.pool;
    const LogCompression codec = ctx_.log_compression;
    // On our own thread, which waits for one database call at a time: the database threads stay
    // free for queries, and only one run of chunks is in memory at once, whatever the log's size.
    return then_on(make_ready_future(), compressor_.get_executor(),
                   [&pool, logid, codec, force](Future<void>) {
                     return compress_runs(pool, logid, codec, force);
                   });
  }

  Future<int64_t> delete_old_log_chunks(Timestamp older_than) override {
    auto promise = std::make_shared<Promise<int64_t>>();
    auto result = promise->get_future();
    delete_batches(ctx_.pool, older_than.time_since_epoch().count(), 0, promise);
    return result;
  }

 private:
  // Hints need a one-statement append (PostgreSQL); elsewhere appends read num_lines anyway.
  bool use_hints() const {
    return !ctx_.pool.dialect().single_writer && ctx_.pool.dialect().writable_cte;
  }

  Future<std::optional<Log>> one(std::string where, std::vector<Value> params) {
    return ctx_.pool.run([where, params](Connection& c) -> std::optional<Log> {
      auto row = c.stmt(std::string(kSelect) + where).bind_all(params).one();
      if (!row) return std::nullopt;
      return read_log(*row);
    });
  }

  // One attempt of a one-chunk append in one statement (a write_one lambda, so in autocommit): it
  // reserves the lines only when the log's num_lines is still the expected one, so the place of
  // the text is known before the statement is sent, and a lost reply can be checked.
  static std::optional<LineRange> append_one(Connection& c, int64_t logid,
                                             AppendAttempts& attempts, NextLines& hints) {
    const int64_t added = attempts.added;
    for (int race = 0; race < kAppendRaces; ++race) {
      // After a lost reply; and again after a statement that did nothing, since a lost write of
      // ours may have committed meanwhile (the server finishes it after the connection is gone).
      if (Pool::commit_outcome_unknown()) {
        if (auto stored = attempts.find_stored(c, logid)) {
          hints.set(logid, stored->last + 1);
          return stored;
        }
      }
      std::optional<int64_t> expected = hints.get(logid);
      if (!expected) {
        expected = c.stmt("SELECT num_lines FROM logs WHERE id = ?").bind(logid).scalar<int64_t>();
        if (!expected) return std::nullopt;  // no such log
      }
      bool fresh = attempts.sending(*expected);
      auto first =
          c.stmt("WITH reserved AS (UPDATE logs SET num_lines = num_lines + ? "
                 "WHERE id = ? AND num_lines = ? RETURNING num_lines) "
                 "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
                 "SELECT ?, num_lines - ?, num_lines - 1, ?, 0 FROM reserved RETURNING first_line")
              .bind(added, logid, *expected, logid, added, Blob{attempts.chunks->front().text})
              .scalar<int64_t>();
      if (first) {
        hints.set(logid, *first + added);
        return LineRange{*first, *first + added - 1};
      }
      // The hint was stale, another append got there first, or the log does not exist. This
      // statement certainly wrote nothing (its reply came), so its place is no candidate for a
      // later look, unless an earlier write whose reply was lost went to the same place.
      if (fresh) attempts.sent.pop_back();
      hints.erase(logid);
    }
    throw TransientError("log " + std::to_string(logid) +
                         " kept moving on under concurrent appends");
  }

  // Remembers the text of an append once it committed, for the log's compression (see
  // OpenLogTexts); only when finished logs are compressed.
  Future<std::optional<LineRange>> remembered(
      int64_t logid, std::shared_ptr<const std::vector<internal::ChunkText>> chunks,
      Future<std::optional<LineRange>> append) {
    if (!ctx_.compress_finished_logs) return append;
    return append.then(
        [texts = texts_, logid, chunks = std::move(chunks)](Future<std::optional<LineRange>> f) {
          auto range = f.get();
          if (range) texts->appended(logid, range->first, chunks);
          return range;
        });
  }

  void compress_in_background(int64_t logid, std::optional<OpenLogTexts::Text> text) {
    ctx_.background.begin();
    auto job = text ? compress_known(logid, std::move(*text)) : compress_log(logid, false);
    then_on(std::move(job), compressor_.get_executor(), [this](Future<int64_t> f) {
      try {
        f.get();
      } catch (const std::exception&) {
        // Nothing is lost: the log stays in its plain chunks, and compress_log can run again.
      }
      ctx_.background.end();
    });
  }

  // A finished log's compression from the text this Db appended (OpenLogTexts): merged on the
  // compressor thread and swapped in by one transaction, with no read of the chunks first. The
  // swap checks that the log's chunks are still exactly the ones appended, and no more; if not
  // (a peer appended, compressed or deleted meanwhile), the log is compressed from what is
  // stored, as compress_log does.
  Future<int64_t> compress_known(int64_t logid, OpenLogTexts::Text text) {
    Pool& pool = ctx_.pool;
    const LogCompression codec = ctx_.log_compression;
    auto t = std::make_shared<const OpenLogTexts::Text>(std::move(text));
    return then_on(
        make_ready_future(), compressor_.get_executor(), [&pool, logid, codec, t](Future<void>) {
          std::optional<internal::ChunkMerge> merge;
          {
            std::vector<std::string_view> views;
            for (const auto& append : t->appends) {
              for (const auto& chunk : *append) views.push_back(chunk.text);
            }
            merge = internal::merge_run(logid, t->run, views, codec);
          }
          // A lone chunk that stays as it is: nothing of ours to swap in (a peer's text after it
          // is found by the usual pass).
          if (!merge) return compress_runs(pool, logid, codec, false);
          auto m = std::make_shared<const internal::ChunkMerge>(std::move(*merge));
          auto saved = pool.transaction(
                               [logid, m](Connection& c) -> std::optional<int64_t> {
                                 if (c.stmt("SELECT 1 FROM logchunks WHERE logid = ? AND "
                                            "first_line > ?")
                                         .bind(logid, m->last_line)
                                         .one()) {
                                   return std::nullopt;  // more than we appended
                                 }
                                 return replace_run(c, logid, *m);
                               },
                               Unknown::kRetry)
                           .get();
          if (saved) return *saved;
          return compress_runs(pool, logid, codec, false);
        });
  }

  // compress_log on the compressor thread: lists the log's uncompressed chunks a page at a time
  // (place and size only), gathers them into runs and replaces each run in a transaction of its
  // own, so that memory holds one run (about kCompressedChunkBytes) and a reader sees, run by run,
  // either the old chunks or the new one. A failure or crash part way leaves the runs done so far
  // compressed and the rest plain; a later call carries on.
  static int64_t compress_runs(Pool& pool, int64_t logid, LogCompression codec, bool force) {
    int64_t saved = 0;
    int64_t after = -1;  // the chunks listed so far start at or before this line
    internal::CompressionRun run;
    for (;;) {
      auto page = pool.run([logid, after](Connection& c) {
                        std::vector<internal::ChunkSpan> spans;
                        for (const Row& r :
                             c.stmt("SELECT first_line, last_line, "
                                    "COALESCE(LENGTH(content), 0), compressed FROM logchunks "
                                    "WHERE logid = ? AND first_line > ? "
                                    "ORDER BY first_line LIMIT ?")
                                 .bind(logid, after, kSpanPage)
                                 .all()) {
                          spans.push_back({r.get<int64_t>(0), r.get<int64_t>(1),
                                           static_cast<size_t>(r.get<int64_t>(2)),
                                           r.get<int64_t>(3)});
                        }
                        return spans;
                      })
                      .get();
      for (const auto& span : page) {
        if (!internal::compressible(span.code, codec, force)) {
          if (!run.empty()) saved += compress_run(pool, logid, run, codec);
          run = internal::CompressionRun{};
          continue;
        }
        if (!run.accepts(span)) {
          saved += compress_run(pool, logid, run, codec);
          run = internal::CompressionRun{};
        }
        run.add(span);
      }
      if (static_cast<int64_t>(page.size()) < kSpanPage) break;
      after = page.back().first_line;
    }
    if (!run.empty()) saved += compress_run(pool, logid, run, codec);
    return saved;
  }

  // Reads one run's content, merges it (off the database threads) and swaps it in. A run whose
  // chunks changed since they were listed (another compress_log, delete_old_log_chunks) is left
  // alone.
  static int64_t compress_run(Pool& pool, int64_t logid, const internal::CompressionRun& run,
                              LogCompression codec) {
    auto texts = pool.run([logid, firsts = run.firsts(), lasts = run.lasts(),
                           codes = run.codes()](Connection& c)
                              -> std::optional<std::vector<std::string>> {
                       std::vector<std::string> out;
                       size_t i = 0;
                       for (const Row& r : c.stmt("SELECT first_line, last_line, compressed, "
                                                  "content FROM logchunks WHERE logid = ? "
                                                  "AND first_line >= ? AND first_line <= ? "
                                                  "ORDER BY first_line")
                                               .bind(logid, firsts.front(), firsts.back())
                                               .all()) {
                         if (i >= firsts.size() || r.get<int64_t>(0) != firsts[i] ||
                             r.get<int64_t>(1) != lasts[i] || r.get<int64_t>(2) != codes[i]) {
                           return std::nullopt;
                         }
                         auto content = r.get<std::optional<Blob>>(3);
                         out.push_back(content ? std::move(content->bytes) : std::string());
                         ++i;
                       }
                       if (i != firsts.size()) return std::nullopt;
                       return out;
                     })
                     .get();
    if (!texts) return 0;
    std::optional<internal::ChunkMerge> merge;
    {
      std::vector<std::string_view> views(texts->begin(), texts->end());
      merge = internal::merge_run(logid, run, views, codec);
    }
    texts.reset();  // the run's text, before the write
    if (!merge) return 0;
    auto m = std::make_shared<const internal::ChunkMerge>(std::move(*merge));
    return pool
        .transaction(
            [logid, m](Connection& c) { return replace_run(c, logid, *m).value_or(0); },
            Unknown::kRetry)
        .get();
  }

  // Swaps in one merged run if its chunks are still exactly as they were read. After a lost
  // reply (Unknown::kRetry) the swap may already be done: then the run is one chunk that holds
  // exactly the merged content, and its savings are counted once; anything else is left alone as
  // a run that changed (nullopt), so a lost reply never doubles or drops a line.
  static std::optional<int64_t> replace_run(Connection& c, int64_t logid, const internal::ChunkMerge& m) {
    std::vector<int64_t> firsts, lasts, codes;
    for (const Row& r : c.stmt("SELECT first_line, last_line, compressed FROM logchunks "
                               "WHERE logid = ? AND first_line >= ? AND first_line <= ? "
                               "ORDER BY first_line")
                            .bind(logid, m.first_line, m.last_line)
                            .all()) {
      firsts.push_back(r.get<int64_t>(0));
      lasts.push_back(r.get<int64_t>(1));
      codes.push_back(r.get<int64_t>(2));
    }
    if (Pool::commit_outcome_unknown() && firsts.size() == 1 && firsts[0] == m.first_line &&
        lasts[0] == m.last_line && codes[0] == m.code &&
        (m.replaced.size() > 1 || m.replaced_code[0] != m.code)) {
      auto stored = c.stmt("SELECT content FROM logchunks WHERE logid = ? AND first_line = ?")
                        .bind(logid, m.first_line)
                        .scalar<Blob>();
      if (stored && stored->bytes == m.content) return m.saved;
    }
    if (firsts != m.replaced || lasts != m.replaced_last || codes != m.replaced_code) {
      return std::nullopt;
    }
    c.stmt("DELETE FROM logchunks WHERE logid = ? AND first_line >= ? AND first_line <= ?")
        .bind(logid, m.first_line, m.last_line)
        .exec();
    c.stmt(
         "INSERT INTO logchunks (logid, first_line, last_line, content, compressed) "
         "VALUES (?, ?, ?, ?, ?)")
        .bind(logid, m.first_line, m.last_line, Blob{m.content}, m.code)
        .exec();
    return m.saved;
  }

  // One bounded transaction per batch of logs, chained until a batch comes back short, so that
  // other writers get the database between batches. After a lost reply, a batch whose logs are
  // all marked deleted went through: its chunks are counted as that attempt counted them, and
  // the batch is not chosen again.
  struct Batch {
    std::vector<int64_t> logs;
    int64_t chunks = 0;
  };
  static void delete_batches(Pool& pool, int64_t older_than, int64_t done,
                             std::shared_ptr<Promise<int64_t>> promise) {
    auto chosen = std::make_shared<Batch>();
    pool.transaction(
            [older_than, chosen](Connection& c) -> std::pair<int64_t, int64_t> {
              const std::string deleted(1, log_types::kDeleted);
              if (Pool::commit_outcome_unknown() && !chosen->logs.empty()) {
                int64_t marked = 0;
                internal::for_each_batch(
                    c.dialect(), chosen->logs, 1,
                    [&](const std::string& marks, const std::vector<Value>& p) {
                      marked += *c.stmt("SELECT COUNT(*) FROM logs WHERE type = ? AND id IN (" +
                                        marks + ") AND NOT EXISTS (SELECT 1 FROM logchunks k "
                                                "WHERE k.logid = logs.id)")
                                     .bind(deleted)
                                     .bind_all(p)
                                     .scalar<int64_t>();
                    });
                if (marked == static_cast<int64_t>(chosen->logs.size())) {
                  return {marked, chosen->chunks};
                }
              }
              // Old logs not yet deleted, and deleted ones that were appended to since (as
              // Buildbot allows): an old log keeps no chunks.
              std::vector<int64_t> ids;
              for (const Row& r :
                   c.stmt("SELECT l.id FROM logs l JOIN steps s ON s.id = l.stepid "
                          "WHERE s.started_at < ? AND (l.type <> ? OR EXISTS (SELECT 1 FROM "
                          "logchunks k WHERE k.logid = l.id)) ORDER BY l.id LIMIT ?")
                       .bind(older_than, deleted, kDeleteBatch)
                       .all()) {
                ids.push_back(r.get<int64_t>(0));
              }
              int64_t chunks = 0;
              internal::for_each_batch(
                  c.dialect(), ids, 1, [&](const std::string& marks, const std::vector<Value>& p) {
                    chunks += c.stmt("DELETE FROM logchunks WHERE logid IN (" + marks + ")")
                                  .bind_all(p)
                                  .exec();
                    c.stmt("UPDATE logs SET type = ? WHERE id IN (" + marks + ")")
                        .bind(deleted)
                        .bind_all(p)
                        .exec();
                  });
              chosen->logs = ids;
              chosen->chunks = chunks;
              return {static_cast<int64_t>(ids.size()), chunks};
            },
            Unknown::kRetry)
        .then([&pool, older_than, done, promise](Future<std::pair<int64_t, int64_t>> f) {
          std::pair<int64_t, int64_t> n;
          try {
            n = f.get();
          } catch (...) {
            promise->set_exception(std::current_exception());
            return;
          }
          if (n.first < kDeleteBatch) {
            promise->set_value(done + n.second);
          } else {
            delete_batches(pool, older_than, done + n.second, promise);
          }
        });
  }

  internal::Context& ctx_;
  std::shared_ptr<NextLines> hints_ = std::make_shared<NextLines>();
  std::shared_ptr<OpenLogTexts> texts_ = std::make_shared<OpenLogTexts>();
  boost::asio::thread_pool compressor_{1};
};

}  // namespace

std::unique_ptr<Logs> internal::make_sql_logs(Context& ctx) {
  return std::make_unique<SqlLogs>(ctx);
}

}  // namespace ym::db
