#include "attestation/test_util.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace kp::attestation::testing {

std::filesystem::path vectors_dir() { return KP_VECTORS_DIR; }

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) {
    throw std::runtime_error("cannot read " + p.string());
  }
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::vector<RealDocument> real_documents() {
  std::vector<RealDocument> out;
  const auto dir = vectors_dir() / "attestation_docs";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string file = e.path().filename().string();
    const std::string suffix = ".cose.bin";
    if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    RealDocument d;
    d.name = file.substr(0, file.size() - suffix.size());
    d.cose = read_file(e.path());
    const Bytes json = read_file(dir / (d.name + ".analysis.json"));
    d.analysis = boost::json::parse(std::string(json.begin(), json.end())).as_object();
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace kp::attestation::testing
