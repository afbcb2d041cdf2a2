#include "detect/error.hpp"

#include <cstdlib>
#include <cstring>

namespace detect {

std::string Error::describe() const {
  if (code == 0) return message;
  return message + ": " + std::strerror(code);
}

Error error_from_errno(int errnum, std::string message) {
  return Error{std::abs(errnum), std::move(message)};
}

}  // namespace detect
