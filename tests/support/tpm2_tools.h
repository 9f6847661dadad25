// Reading what tpm2-tools print.
#pragma once

#include <map>
#include <sstream>
#include <string>

namespace henbtrust::testing {

// bank name -> PCR -> lower-case hex, from the final "pcrs:" section that
// tpm2_eventlog prints.
inline std::map<std::string, std::map<int, std::string>> ParseEventlogPcrs(
    const std::string& yaml) {
  std::map<std::string, std::map<int, std::string>> out;
  const size_t start = yaml.rfind("\npcrs:");
  if (start == std::string::npos) return out;
  std::istringstream in(yaml.substr(start + 6));
  std::string line, bank;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t hex = line.find("0x");
    if (hex == std::string::npos) {
      bank = line.substr(line.find_first_not_of(' '), colon - line.find_first_not_of(' '));
      continue;
    }
    std::string value = line.substr(hex + 2);
    for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[bank][std::stoi(line.substr(0, colon))] = value;
  }
  return out;
}

}  // namespace henbtrust::testing
