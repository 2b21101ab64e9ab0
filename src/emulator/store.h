// File: emulator/store.h
//
// Durable emulator state in one directory (mode 0700, files 0600):
//
//   DIR/emulator.json     {"format":"kms-emulator/1"}  (written on first open)
//   DIR/keys/<uuid>.json  one KMS key: metadata, policy, tags, key material
//   DIR/aliases.json      every alias: {"aliases":[{Account,AliasName,...}]}
//
// Every change is written before it becomes visible (and before the caller
// answers the request): write DIR/...tmp, fsync it, rename over the target,
// fsync the directory. A crash (kill -9) at any point leaves either the old
// or the new file; stale *.tmp files are removed on open.
//
// Key file fields: KeyId, Account, Region, Description, KeySpec, KeyUsage,
// KeyState (Enabled|Disabled|PendingDeletion), CreationDateMs,
// DeletionDateMs, PendingWindowInDays, Policy (the JSON text as given),
// Tags [{TagKey,TagValue}], Material (base64: 32-byte AES key for
// SYMMETRIC_DEFAULT, DER PKCS#8 for asymmetric keys), PublicKey (base64 DER
// SPKI, asymmetric only).
//
// @par Thread safety: none. KmsEmulator serialises access with its mutex;
// records are immutable shared_ptrs, so a snapshot stays valid after unlock.
// Blocking file I/O: callers must run it off I/O threads (see main_emulator).
// Pure: no Asio.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::emulator {

enum class KeyState { kEnabled, kDisabled, kPendingDeletion };
std::string_view key_state_name(KeyState s) noexcept;

struct KeyRecord {
  std::string key_id;  // UUID
  std::string account;
  std::string region;
  std::string description;
  std::string key_spec;   // SYMMETRIC_DEFAULT, RSA_2048, ..., ECC_NIST_P384
  std::string key_usage;  // ENCRYPT_DECRYPT | KEY_AGREEMENT
  KeyState state = KeyState::kEnabled;
  std::int64_t creation_ms = 0;
  std::optional<std::int64_t> deletion_ms;
  std::optional<int> pending_window_days;
  std::string policy;
  std::vector<std::pair<std::string, std::string>> tags;
  SecretBytes material;
  Bytes public_key;

  std::string arn() const;
  bool symmetric() const noexcept { return key_spec == "SYMMETRIC_DEFAULT"; }
  /// A deep copy (material cloned) to modify and put back.
  KeyRecord copy() const;
};

struct AliasRecord {
  std::string account;
  std::string name;  // "alias/..."
  std::string target_key_id;
  std::int64_t creation_ms = 0;
  std::int64_t updated_ms = 0;
};

class Store {
 public:
  /// Opens (creating if needed) the state directory and loads everything.
  /// Errc::kInternal naming the file on unreadable or corrupt state.
  /// Holds an exclusive flock on DIR/.lock until destroyed (a second
  /// emulator on the same directory fails to open).
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::shared_ptr<const KeyRecord> find_key(std::string_view key_id) const;
  /// All keys of `account`, ordered by creation time then id.
  std::vector<std::shared_ptr<const KeyRecord>> keys_of(std::string_view account) const;
  std::vector<std::string> all_key_ids() const;
  /// Writes the key file, then replaces the in-memory record.
  Result<void> put_key(KeyRecord&& key);
  /// Deletes the key file and every alias pointing at the key.
  Result<void> remove_key(std::string_view key_id);

  std::optional<AliasRecord> find_alias(std::string_view account, std::string_view name) const;
  std::vector<AliasRecord> aliases_of(std::string_view account) const;
  Result<void> put_alias(AliasRecord alias);
  Result<void> remove_alias(std::string_view account, std::string_view name);

  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  explicit Store(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Result<void> load();
  Result<void> write_aliases(const std::map<std::pair<std::string, std::string>, AliasRecord>& aliases);

  std::filesystem::path dir_;
  int lock_fd_ = -1;
  std::map<std::string, std::shared_ptr<const KeyRecord>, std::less<>> keys_;
  std::map<std::pair<std::string, std::string>, AliasRecord> aliases_;  // (account, name)
};

/// Atomically replaces `path` with `contents` (tmp + fsync + rename + fsync
/// dir), mode 0600. Errc::kInternal naming the path and errno on failure.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view contents);

}  // namespace kp::emulator
