#include "emulator/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "base/encoding.h"

namespace kp::emulator {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kFormat = "kms-emulator/1";

std::string errno_text(int e) { return std::strerror(e); }

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return fail(Errc::kInternal, "emulator store: fsync of " + dir.string() + " failed: " + errno_text(errno));
  }
  return {};
}

Result<void> ensure_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(Errc::kInternal, "emulator store: cannot create " + dir.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(Errc::kInternal, "emulator store: " + dir.string() + " is not a directory");
  }
  if ((st.st_mode & 0777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
    return fail(Errc::kInternal, "emulator store: cannot chmod 0700 " + dir.string() + ": " + errno_text(errno));
  }
  return {};
}

Result<std::string> read_whole(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return fail(Errc::kInternal, "emulator store: cannot read " + path.string());
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<KeyState> parse_state(std::string_view s) {
  if (s == "Enabled") return KeyState::kEnabled;
  if (s == "Disabled") return KeyState::kDisabled;
  if (s == "PendingDeletion") return KeyState::kPendingDeletion;
  return std::nullopt;
}

// Serialises a key; the material is appended by hand so that the only copy
// of its base64 text is the returned string, which the caller wipes.
std::string key_to_json(const KeyRecord& k) {
  json::object o;
  o["KeyId"] = k.key_id;
  o["Account"] = k.account;
  o["Region"] = k.region;
  o["Description"] = k.description;
  o["KeySpec"] = k.key_spec;
  o["KeyUsage"] = k.key_usage;
  o["KeyState"] = key_state_name(k.state);
  o["CreationDateMs"] = k.creation_ms;
  if (k.deletion_ms) {
    o["DeletionDateMs"] = *k.deletion_ms;
  }
  if (k.pending_window_days) {
    o["PendingWindowInDays"] = *k.pending_window_days;
  }
  o["Policy"] = k.policy;
  json::array tags;
  for (const auto& [tk, tv] : k.tags) {
    tags.push_back(json::object{{"TagKey", tk}, {"TagValue", tv}});
  }
  o["Tags"] = std::move(tags);
  if (!k.public_key.empty()) {
    o["PublicKey"] = base64_encode(k.public_key);
  }
  std::string text = json::serialize(o);
  text.pop_back();  // '}'
  text += ",\"Material\":\"";
  base64_encode_append(k.material.view(), text);
  text += "\"}\n";
  return text;
}

Result<KeyRecord> key_from_json(std::string& text, const fs::path& path) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  secure_wipe(text.data(), text.size());
  const auto bad = [&](std::string_view what) {
    return fail(Errc::kInternal, "emulator store: " + path.string() + ": " + std::string(what));
  };
  if (ec || !v.is_object()) {
    return bad("not a JSON object");
  }
  auto& o = v.as_object();
  KeyRecord k;
  const auto str = [&](std::string_view name, std::string& out) {
    const auto* f = o.if_contains(name);
    if (f == nullptr || !f->is_string()) {
      return false;
    }
    out = std::string(f->as_string());
    return true;
  };
  std::string state;
  if (!str("KeyId", k.key_id) || !str("Account", k.account) || !str("Region", k.region) ||
      !str("Description", k.description) || !str("KeySpec", k.key_spec) || !str("KeyUsage", k.key_usage) ||
      !str("KeyState", state) || !str("Policy", k.policy)) {
    return bad("missing or non-string field");
  }
  const auto st = parse_state(state);
  if (!st) {
    return bad("unknown KeyState");
  }
  k.state = *st;
  const auto* created = o.if_contains("CreationDateMs");
  if (created == nullptr || !created->is_int64()) {
    return bad("missing CreationDateMs");
  }
  k.creation_ms = created->as_int64();
  if (const auto* d = o.if_contains("DeletionDateMs"); d != nullptr && d->is_int64()) {
    k.deletion_ms = d->as_int64();
  }
  if (const auto* d = o.if_contains("PendingWindowInDays"); d != nullptr && d->is_int64()) {
    k.pending_window_days = static_cast<int>(d->as_int64());
  }
  if (const auto* t = o.if_contains("Tags"); t != nullptr && t->is_array()) {
    for (const auto& e : t->as_array()) {
      const auto* tk = e.is_object() ? e.as_object().if_contains("TagKey") : nullptr;
      const auto* tv = e.is_object() ? e.as_object().if_contains("TagValue") : nullptr;
      if (tk == nullptr || tv == nullptr || !tk->is_string() || !tv->is_string()) {
        return bad("malformed tag");
      }
      k.tags.emplace_back(std::string(tk->as_string()), std::string(tv->as_string()));
    }
  }
  if (const auto* p = o.if_contains("PublicKey"); p != nullptr && p->is_string()) {
    auto pk = base64_decode(p->as_string());
    if (!pk) {
      return bad("PublicKey is not base64");
    }
    k.public_key = std::move(*pk);
  }
  auto* m = o.if_contains("Material");
  if (m == nullptr || !m->is_string()) {
    return bad("missing Material");
  }
  auto& ms = m->as_string();
  auto material = base64_decode_secret(ms);
  secure_wipe(ms.data(), ms.size());
  if (!material || material->empty()) {
    return bad("Material is not base64");
  }
  k.material = std::move(*material);
  return k;
}

}  // namespace

std::string_view key_state_name(KeyState s) noexcept {
  switch (s) {
    case KeyState::kEnabled:
      return "Enabled";
    case KeyState::kDisabled:
      return "Disabled";
    case KeyState::kPendingDeletion:
      return "PendingDeletion";
  }
  return "Enabled";
}

std::string KeyRecord::arn() const { return "arn:aws:kms:" + region + ":" + account + ":key/" + key_id; }

KeyRecord KeyRecord::copy() const {
  KeyRecord k;
  k.key_id = key_id;
  k.account = account;
  k.region = region;
  k.description = description;
  k.key_spec = key_spec;
  k.key_usage = key_usage;
  k.state = state;
  k.creation_ms = creation_ms;
  k.deletion_ms = deletion_ms;
  k.pending_window_days = pending_window_days;
  k.policy = policy;
  k.tags = tags;
  k.material = material.clone();
  k.public_key = public_key;
  return k;
}

Result<void> write_file_atomic(const fs::path& path, std::string_view contents) {
  const fs::path tmp = path.string() + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      return fail(Errc::kInternal, "emulator store: cannot create " + tmp.string() + ": " + errno_text(errno));
    }
    if (::fchmod(fd.get(), 0600) != 0) {
      return fail(Errc::kInternal, "emulator store: chmod " + tmp.string() + ": " + errno_text(errno));
    }
    std::size_t off = 0;
    while (off < contents.size()) {
      const ssize_t n = ::write(fd.get(), contents.data() + off, contents.size() - off);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return fail(Errc::kInternal, "emulator store: write " + tmp.string() + ": " + errno_text(errno));
      }
      off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      return fail(Errc::kInternal, "emulator store: fsync " + tmp.string() + ": " + errno_text(errno));
    }
    if (::close(fd.release()) != 0) {
      return fail(Errc::kInternal, "emulator store: close " + tmp.string() + ": " + errno_text(errno));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Errc::kInternal, "emulator store: rename to " + path.string() + ": " + errno_text(errno));
  }
  return fsync_dir(path.parent_path());
}

Result<std::unique_ptr<Store>> Store::open(const fs::path& dir) {
  if (dir.empty()) {
    return fail(Errc::kInternal, "emulator store: no data directory given");
  }
  std::error_code parent_ec;
  if (dir.has_parent_path()) {
    fs::create_directories(dir.parent_path(), parent_ec);  // parents keep default modes; DIR itself is 0700
  }
  if (auto r = ensure_dir(dir); !r) {
    return r.error();
  }
  if (auto r = ensure_dir(dir / "keys"); !r) {
    return r.error();
  }
  // One emulator per directory: a second process would interleave writes.
  // The lock is held for the life of the process (released by the kernel
  // even on kill -9).
  const fs::path lock = dir / ".lock";
  const int lfd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) {
    return fail(Errc::kInternal, "emulator store: cannot open " + lock.string() + ": " + errno_text(errno));
  }
  if (::flock(lfd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lfd);
    return fail(Errc::kInternal, "emulator store: " + dir.string() + " is in use by another kms-emulator");
  }
  std::unique_ptr<Store> s(new Store(dir));
  s->lock_fd_ = lfd;
  if (auto r = s->load(); !r) {
    return r.error();
  }
  return s;
}

Store::~Store() {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
  }
}

Result<void> Store::load() {
  const fs::path marker = dir_ / "emulator.json";
  std::error_code ec;
  if (!fs::exists(marker, ec)) {
    if (auto r = write_file_atomic(marker, "{\"format\":\"" + std::string(kFormat) + "\"}\n"); !r) {
      return r.error();
    }
  } else {
    auto text = read_whole(marker);
    if (!text) {
      return text.error();
    }
    if (text->find(kFormat) == std::string::npos) {
      return fail(Errc::kInternal, "emulator store: " + marker.string() + " is not format " + std::string(kFormat));
    }
  }
  for (const auto& sub : {dir_, dir_ / "keys"}) {
    for (const auto& e : fs::directory_iterator(sub, ec)) {
      if (e.path().extension() == ".tmp") {
        fs::remove(e.path(), ec);  // an interrupted write: the old file is intact
      }
    }
  }
  for (const auto& e : fs::directory_iterator(dir_ / "keys", ec)) {
    if (e.path().extension() != ".json") {
      continue;
    }
    auto text = read_whole(e.path());
    if (!text) {
      return text.error();
    }
    auto key = key_from_json(*text, e.path());
    if (!key) {
      return key.error();
    }
    if (e.path().stem().string() != key->key_id) {
      return fail(Errc::kInternal, "emulator store: " + e.path().string() + " holds another key id");
    }
    std::string id = key->key_id;
    keys_.emplace(std::move(id), std::make_shared<const KeyRecord>(std::move(*key)));
  }
  if (ec) {
    return fail(Errc::kInternal, "emulator store: cannot list " + dir_.string() + ": " + ec.message());
  }
  const fs::path aliases = dir_ / "aliases.json";
  if (fs::exists(aliases, ec)) {
    auto text = read_whole(aliases);
    if (!text) {
      return text.error();
    }
    boost::system::error_code jec;
    const json::value v = json::parse(*text, jec);
    const auto* list = (!jec && v.is_object()) ? v.as_object().if_contains("aliases") : nullptr;
    if (list == nullptr || !list->is_array()) {
      return fail(Errc::kInternal, "emulator store: " + aliases.string() + " is malformed");
    }
    for (const auto& a : list->as_array()) {
      try {
        const auto& o = a.as_object();
        AliasRecord r;
        r.account = std::string(o.at("Account").as_string());
        r.name = std::string(o.at("AliasName").as_string());
        r.target_key_id = std::string(o.at("TargetKeyId").as_string());
        r.creation_ms = o.at("CreationDateMs").as_int64();
        r.updated_ms = o.at("LastUpdatedDateMs").as_int64();
        aliases_[{r.account, r.name}] = std::move(r);
      } catch (const std::exception&) {
        return fail(Errc::kInternal, "emulator store: " + aliases.string() + " has a malformed alias");
      }
    }
  }
  return {};
}

std::shared_ptr<const KeyRecord> Store::find_key(std::string_view key_id) const {
  const auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const KeyRecord>> Store::keys_of(std::string_view account) const {
  std::vector<std::shared_ptr<const KeyRecord>> out;
  for (const auto& [id, k] : keys_) {
    if (k->account == account) {
      out.push_back(k);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a->creation_ms != b->creation_ms ? a->creation_ms < b->creation_ms : a->key_id < b->key_id;
  });
  return out;
}

std::vector<std::string> Store::all_key_ids() const {
  std::vector<std::string> out;
  out.reserve(keys_.size());
  for (const auto& kv : keys_) {
    out.push_back(kv.first);
  }
  return out;
}

Result<void> Store::put_key(KeyRecord&& key) {
  std::string text = key_to_json(key);
  auto r = write_file_atomic(dir_ / "keys" / (key.key_id + ".json"), text);
  secure_wipe(text.data(), text.size());
  if (!r) {
    return r.error();
  }
  std::string id = key.key_id;
  keys_[std::move(id)] = std::make_shared<const KeyRecord>(std::move(key));
  return {};
}

Result<void> Store::remove_key(std::string_view key_id) {
  auto next = aliases_;
  std::erase_if(next, [&](const auto& kv) { return kv.second.target_key_id == key_id; });
  if (next.size() != aliases_.size()) {
    if (auto r = write_aliases(next); !r) {
      return r.error();
    }
    aliases_ = std::move(next);
  }
  const fs::path p = dir_ / "keys" / (std::string(key_id) + ".json");
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
    return fail(Errc::kInternal, "emulator store: cannot delete " + p.string() + ": " + errno_text(errno));
  }
  if (auto r = fsync_dir(dir_ / "keys"); !r) {
    return r.error();
  }
  const auto it = keys_.find(key_id);
  if (it != keys_.end()) {
    keys_.erase(it);
  }
  return {};
}

std::optional<AliasRecord> Store::find_alias(std::string_view account, std::string_view name) const {
  const auto it = aliases_.find({std::string(account), std::string(name)});
  if (it == aliases_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<AliasRecord> Store::aliases_of(std::string_view account) const {
  std::vector<AliasRecord> out;
  for (const auto& [k, a] : aliases_) {
    if (a.account == account) {
      out.push_back(a);
    }
  }
  return out;
}

Result<void> Store::write_aliases(const std::map<std::pair<std::string, std::string>, AliasRecord>& aliases) {
  json::array list;
  for (const auto& [k, a] : aliases) {
    list.push_back(json::object{{"Account", a.account},
                                {"AliasName", a.name},
                                {"TargetKeyId", a.target_key_id},
                                {"CreationDateMs", a.creation_ms},
                                {"LastUpdatedDateMs", a.updated_ms}});
  }
  return write_file_atomic(dir_ / "aliases.json", json::serialize(json::object{{"aliases", std::move(list)}}) + "\n");
}

Result<void> Store::put_alias(AliasRecord alias) {
  auto next = aliases_;
  next[{alias.account, alias.name}] = alias;
  if (auto r = write_aliases(next); !r) {
    return r.error();
  }
  aliases_ = std::move(next);
  return {};
}

Result<void> Store::remove_alias(std::string_view account, std::string_view name) {
  auto next = aliases_;
  next.erase({std::string(account), std::string(name)});
  if (auto r = write_aliases(next); !r) {
    return r.error();
  }
  aliases_ = std::move(next);
  return {};
}

}  // namespace kp::emulator
