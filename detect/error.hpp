#pragma once
// The project's one error type: an errno (0 when none applies) plus what failed.
// errno is converted once, at the OS boundary; everything above passes Error on.

#include <string>
#include <utility>
#include <variant>

namespace detect {

struct Error {
  int code = 0;         // positive errno, or 0 when the failure has no errno
  std::string message;  // what failed, on what ("inserting esp4")

  // "inserting esp4: File exists" (message plus strerror when code != 0).
  [[nodiscard]] std::string describe() const;
};

// Builds an Error from a positive or negative errno value (libkmod returns -errno).
Error error_from_errno(int errnum, std::string message);

// A value or an Error. Small on purpose: g++ 12 in C++20 mode has no std::expected.
template <typename T>
class Result {
 public:
  Result(T value) : content_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : content_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(content_); }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const T& value() const& { return std::get<T>(content_); }
  [[nodiscard]] T& value() & { return std::get<T>(content_); }
  [[nodiscard]] T&& value() && { return std::get<T>(std::move(content_)); }
  [[nodiscard]] const Error& error() const { return std::get<Error>(content_); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> content_;
};

// Success, or the Error that stopped it.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace detect
