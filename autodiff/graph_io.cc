#include "autodiff/graph_io.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/charconv.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "autodiff/op_def.h"
#include "engine/conv.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/status.h"

#if !defined(ABSL_IS_LITTLE_ENDIAN)
#error "graph_io writes tensor bytes as they are in memory, which must be little-endian"
#endif

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;

constexpr absl::string_view kMagic = "concord-graph ";
constexpr char kHexDigits[] = "0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Writing: one function per kind of line. The parser renders each line it reads with the same
// function and compares, which is what makes the format canonical.
// ---------------------------------------------------------------------------------------------

uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

double FromBits(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// FormatDouble: the shortest %g form that reads back to the same bits, or 0x<bits> for NaN,
// infinities and -0.0 (whose decimal forms would lose the payload or the sign).
std::string FormatDouble(double v) {
  if (std::isfinite(v) && !(v == 0.0 && std::signbit(v))) {
    for (int precision = 1; precision <= 17; ++precision) {
      const std::string s = absl::StrFormat("%.*g", precision, v);
      double back = 0.0;
      const absl::from_chars_result r = absl::from_chars(s.data(), s.data() + s.size(), back);
      if (r.ec == std::errc() && r.ptr == s.data() + s.size() && Bits(back) == Bits(v)) return s;
    }
  }
  return absl::StrFormat("0x%016x", Bits(v));
}

std::string Ids(absl::Span<const int64_t> ids) {
  return absl::StrJoin(ids, ", ",
                       [](std::string* out, int64_t id) { absl::StrAppend(out, "%", id); });
}

std::string IntListText(absl::Span<const int64_t> v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

std::string HeaderLine(int64_t version) { return absl::StrCat(kMagic, version); }

std::string NameLine(absl::string_view name) {
  return absl::StrCat("name \"", absl::CEscape(name), "\"");
}

std::string InputLine(int64_t id, const TensorSpec& spec) {
  return absl::StrCat("input %", id, " ", spec.ToString());
}

std::string ConstantLine(int64_t id, const Graph::Constant& c) {
  std::string out = absl::StrCat(c.from_variable ? "variable %" : "constant %", id, " ",
                                 SpecOf(c.tensor).ToString(), " hex:");
  const auto* bytes = static_cast<const unsigned char*>(c.tensor.raw_data());
  const size_t n = c.tensor.nbytes();
  const size_t start = out.size();
  out.resize(start + 2 * n);
  for (size_t i = 0; i < n; ++i) {
    out[start + 2 * i] = kHexDigits[bytes[i] >> 4];
    out[start + 2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

// AttrsText: every field that differs from its default, in the order of the struct.
std::string AttrsText(const Attrs& a) {
  const Attrs d;
  std::vector<std::string> parts;
  if (!a.axes.empty()) parts.push_back(absl::StrCat("axes=", IntListText(a.axes)));
  if (!a.sizes.empty()) parts.push_back(absl::StrCat("sizes=", IntListText(a.sizes)));
  if (a.axis != d.axis) parts.push_back(absl::StrCat("axis=", a.axis));
  if (a.depth != d.depth) parts.push_back(absl::StrCat("depth=", a.depth));
  if (a.keepdims) parts.push_back("keepdims");
  if (a.transpose_a) parts.push_back("transpose_a");
  if (a.transpose_b) parts.push_back("transpose_b");
  if (a.approximate) parts.push_back("approximate");
  if (Bits(a.on) != Bits(d.on)) parts.push_back(absl::StrCat("on=", FormatDouble(a.on)));
  if (Bits(a.off) != Bits(d.off)) parts.push_back(absl::StrCat("off=", FormatDouble(a.off)));
  if (a.dtype != d.dtype) parts.push_back(absl::StrCat("dtype=", engine::DTypeName(a.dtype)));
  if (a.shape != d.shape) parts.push_back(absl::StrCat("shape=", a.shape.ToString()));
  if (a.strides != d.strides) parts.push_back(absl::StrCat("strides=", IntListText(a.strides)));
  if (a.dilations != d.dilations)
    parts.push_back(absl::StrCat("dilations=", IntListText(a.dilations)));
  if (a.ksize != d.ksize) parts.push_back(absl::StrCat("ksize=", IntListText(a.ksize)));
  if (a.padding != d.padding) {
    parts.push_back(absl::StrCat("padding=", engine::PaddingName(a.padding)));
  }
  return absl::StrJoin(parts, ", ");
}

std::string EquationLine(const Equation& eq) {
  const std::string attrs = AttrsText(eq.attrs);
  return absl::StrCat(
      Ids(eq.output_ids), " = ", PrimitiveName(eq.primitive), "(", Ids(eq.input_ids), ")",
      attrs.empty() ? "" : " {", attrs, attrs.empty() ? "" : "}", " : ",
      absl::StrJoin(eq.output_specs, ", ", [](std::string* out, const TensorSpec& s) {
        absl::StrAppend(out, s.ToString());
      }));
}

std::string ReturnLine(absl::Span<const int64_t> outputs) {
  return outputs.empty() ? "return" : absl::StrCat("return ", Ids(outputs));
}

// ---------------------------------------------------------------------------------------------
// Reading.
// ---------------------------------------------------------------------------------------------

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

// Quote shows a piece of the input in a message, shortened if long.
std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return absl::StrCat("'", absl::CHexEscape(s), "'");
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, kMax)), "...'");
}

// Cursor reads one line from left to right.
class Cursor {
 public:
  explicit Cursor(absl::string_view line) : rest_(line) {}

  absl::string_view rest() const { return rest_; }
  bool AtEnd() const { return rest_.empty(); }
  bool Consume(absl::string_view literal) { return absl::ConsumePrefix(&rest_, literal); }
  bool Peek(char c) const { return !rest_.empty() && rest_.front() == c; }

  absl::Status Expect(absl::string_view literal) {
    if (Consume(literal)) return absl::OkStatus();
    return Invalid(absl::StrCat("expected '", literal, "' at ",
                                rest_.empty() ? "the end of the line" : Quote(rest_)));
  }

  absl::Status ExpectEnd() {
    if (AtEnd()) return absl::OkStatus();
    return Invalid(absl::StrCat("unexpected text at the end of the line: ", Quote(rest_)));
  }

  // Word: [A-Za-z0-9_]+.
  absl::string_view Word() {
    size_t n = 0;
    while (n < rest_.size() &&
           (std::isalnum(static_cast<unsigned char>(rest_[n])) || rest_[n] == '_')) {
      ++n;
    }
    const absl::string_view w = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return w;
  }

  // Int: -?[0-9]+ within int64.
  absl::StatusOr<int64_t> Int(absl::string_view what) {
    size_t n = Peek('-') ? 1 : 0;
    const size_t digits_start = n;
    while (n < rest_.size() && rest_[n] >= '0' && rest_[n] <= '9') ++n;
    if (n == digits_start) {
      return Invalid(absl::StrCat("expected ", what, " (an integer) at ",
                                  rest_.empty() ? "the end of the line" : Quote(rest_)));
    }
    int64_t value = 0;
    if (!absl::SimpleAtoi(rest_.substr(0, n), &value)) {
      return Invalid(absl::StrCat(what, " ", Quote(rest_.substr(0, n)), " does not fit in int64"));
    }
    rest_.remove_prefix(n);
    return value;
  }

  // Id: %<non-negative integer>.
  absl::StatusOr<int64_t> Id() {
    if (!Consume("%")) {
      return Invalid(absl::StrCat("expected a value id (%<n>) at ",
                                  rest_.empty() ? "the end of the line" : Quote(rest_)));
    }
    absl::StatusOr<int64_t> id = Int("a value id");
    if (id.ok() && *id < 0) return Invalid(absl::StrCat("value id %", *id, " is negative"));
    return id;
  }

  // IntList: [a, b, ...], at most `max` entries.
  absl::StatusOr<std::vector<int64_t>> IntList(absl::string_view what, size_t max) {
    std::vector<int64_t> out;
    if (absl::Status s = Expect("["); !s.ok()) return s;
    if (Consume("]")) return out;
    while (true) {
      if (out.size() == max) {
        return Invalid(absl::StrCat(what, " has more than ", max, " entries"));
      }
      absl::StatusOr<int64_t> v = Int(what);
      if (!v.ok()) return v.status();
      out.push_back(*v);
      if (Consume("]")) return out;
      if (absl::Status s = Expect(", "); !s.ok()) return s;
    }
  }

  // Double: a decimal number or 0x<16 hex digits of the bits>.
  absl::StatusOr<double> Double(absl::string_view what) {
    if (Consume("0x")) {
      uint64_t bits = 0;
      for (int i = 0; i < 16; ++i) {
        const char* digit = rest_.empty() ? nullptr : std::strchr(kHexDigits, rest_.front());
        if (digit == nullptr || *digit == '\0') {
          return Invalid(absl::StrCat(what, ": expected 16 lowercase hex digits after 0x"));
        }
        bits = (bits << 4) | static_cast<uint64_t>(digit - kHexDigits);
        rest_.remove_prefix(1);
      }
      return FromBits(bits);
    }
    size_t n = 0;
    while (n < rest_.size() && std::strchr("0123456789.eE+-", rest_[n]) != nullptr &&
           rest_[n] != '\0') {
      ++n;
    }
    double value = 0.0;
    const absl::from_chars_result r = absl::from_chars(rest_.data(), rest_.data() + n, value);
    if (n == 0 || r.ec != std::errc() || r.ptr != rest_.data() + n) {
      return Invalid(absl::StrCat(what, ": expected a number at ",
                                  rest_.empty() ? "the end of the line" : Quote(rest_)));
    }
    rest_.remove_prefix(n);
    return value;
  }

  // Spec: <dtype>[<dims>], validated by Shape::FromDims.
  absl::StatusOr<TensorSpec> Spec() {
    const absl::string_view name = Word();
    absl::StatusOr<DType> dtype = engine::DTypeFromName(name);
    if (name.empty() || !dtype.ok()) {
      return Invalid(absl::StrCat("unknown dtype ", Quote(name), " (expected one of float32, ",
                                  "float64, int32, int64, bool)"));
    }
    absl::StatusOr<Shape> shape = ShapeOf("shape");
    if (!shape.ok()) return shape.status();
    return TensorSpec{*dtype, *std::move(shape)};
  }

  // ShapeOf: [<dim>, ...], each dim a size or an unknown one (Dim), validated by Shape::FromDims
  // at the unknown sizes' stand-ins.
  absl::StatusOr<Shape> ShapeOf(absl::string_view what) {
    CONCORD_RETURN_IF_ERROR(Expect("["));
    std::vector<absl::string_view> tokens;
    std::vector<int64_t> dims;
    std::vector<int> unknown_sizes;
    while (!Consume("]")) {
      if (!tokens.empty()) CONCORD_RETURN_IF_ERROR(Expect(", "));
      if (tokens.size() == engine::kMaxRank + 1) {
        return Invalid(absl::StrCat(what, " has more than ", engine::kMaxRank + 1, " entries"));
      }
      const size_t n = std::min(rest_.find_first_of(",]"), rest_.size());
      tokens.push_back(rest_.substr(0, n));
      rest_.remove_prefix(n);
      int64_t dim = 0;
      int unknown_size = -1;
      CONCORD_RETURN_IF_ERROR(Dim(tokens.back(), what, &dim, &unknown_size));
      dims.push_back(dim);
      unknown_sizes.push_back(unknown_size);
    }
    absl::StatusOr<Shape> shape = Shape::FromDims(dims);
    if (!shape.ok()) {
      return Invalid(absl::StrCat("bad ", what, " [", absl::StrJoin(tokens, ", "),
                                  "]: ", shape.status().message()));
    }
    for (size_t i = 0; i < dims.size(); ++i) {
      if (unknown_sizes[i] >= 0) shape->set_unknown(static_cast<int>(i), unknown_sizes[i]);
    }
    return shape;
  }

 private:
  // Dim reads one dimension of a shape, the whole of `token`: a size (an integer; FromDims
  // refuses a negative one), or an unknown size as Shape::ToString spells it, [<p>*]?[b|c|d][/<q>]
  // (Note [Serialized graph format]), which sets *unknown_size to 0..3 and *dim to its stand-in,
  // p * kUnknownStandIn / q; whether it is in lowest terms is left to the canonical check.
  static absl::Status Dim(absl::string_view token, absl::string_view what, int64_t* dim,
                          int* unknown_size) {
    const auto bad = [&](absl::string_view why) {
      return Invalid(absl::StrCat("bad dimension ", Quote(token), " in ", what, ": ", why));
    };
    constexpr absl::string_view kSpelling =
        "a dimension is a size (an integer) or an unknown size ?, ?b, ?c or ?d, or a multiple of "
        "one such as 2*?, ?/2 or 3*?b/2";
    Cursor c(token);
    int64_t p = 1;
    if (!c.Peek('?')) {
      absl::StatusOr<int64_t> v = c.Int(what);
      if (!v.ok()) return bad(kSpelling);
      *dim = *v;
      if (c.AtEnd()) return absl::OkStatus();
      if (!c.Consume("*") || !c.Peek('?')) return bad(kSpelling);
      p = *v;
    }
    c.Consume("?");
    const absl::string_view letter = c.Word();
    constexpr absl::string_view kLetters[engine::kMaxUnknownSizes] = {"", "b", "c", "d"};
    *unknown_size = -1;
    for (int j = 0; j < engine::kMaxUnknownSizes; ++j) {
      if (letter == kLetters[j]) *unknown_size = j;
    }
    if (*unknown_size < 0) {
      return bad(
          absl::StrCat("there are ", engine::kMaxUnknownSizes, " unknown sizes, ?, ?b, ?c and ?d"));
    }
    int64_t q = 1;
    if (c.Consume("/")) {
      absl::StatusOr<int64_t> v = c.Int(what);
      if (!v.ok()) return bad(kSpelling);
      q = *v;
    }
    if (!c.AtEnd()) return bad(kSpelling);
    // p <= 2^48 keeps p * kUnknownStandIn (< 2^61) in range; a larger stand-in has too many
    // elements for FromDims anyway.
    if (p < 0 || p > engine::kMaxElements) {
      return bad(absl::StrCat("the multiple ", p, " is out of range"));
    }
    if (q < 1 || (p * engine::kUnknownStandIn) % q != 0) {
      return bad(absl::StrCat("the divisor must be positive and, in lowest terms, divide ",
                              engine::kUnknownStandIn, " (sizes stand in as multiples of it)"));
    }
    *dim = p * engine::kUnknownStandIn / q;
    return absl::OkStatus();
  }

  absl::string_view rest_;
};

// The attribute names in the order of Attrs (and of AttrsText).
constexpr std::array<absl::string_view, 16> kAttrNames = {
    "axes", "sizes", "axis",  "depth", "keepdims", "transpose_a", "transpose_b", "approximate",
    "on",   "off",   "dtype", "shape", "strides",  "dilations",   "ksize",       "padding"};

absl::StatusOr<std::array<int64_t, 2>> Pair(Cursor& c, absl::string_view what) {
  CONCORD_ASSIGN_OR_RETURN(const std::vector<int64_t> v, c.IntList(what, 3));
  if (v.size() != 2) return Invalid(absl::StrCat(what, " needs 2 entries, got ", v.size()));
  return std::array<int64_t, 2>{v[0], v[1]};
}

// ParseAttrs reads "{name=value, flag, ...}" (the braces included).
absl::StatusOr<Attrs> ParseAttrs(Cursor& c) {
  Attrs a;
  CONCORD_RETURN_IF_ERROR(c.Expect("{"));
  int last = -1;
  while (true) {
    const absl::string_view name = c.Word();
    int index = -1;
    for (size_t i = 0; i < kAttrNames.size(); ++i) {
      if (kAttrNames[i] == name) index = static_cast<int>(i);
    }
    if (index < 0) {
      return Invalid(absl::StrCat("unknown attribute ", Quote(name),
                                  " (known: ", absl::StrJoin(kAttrNames, ", "), ")"));
    }
    if (index <= last) {
      return Invalid(absl::StrCat("attribute '", name, "' is repeated or out of order (the ",
                                  "order is ", absl::StrJoin(kAttrNames, ", "), ")"));
    }
    last = index;
    const bool flag = name == "keepdims" || name == "transpose_a" || name == "transpose_b" ||
                      name == "approximate";
    if (flag) {
      if (c.Peek('=')) return Invalid(absl::StrCat("attribute '", name, "' is a flag: no value"));
    } else {
      CONCORD_RETURN_IF_ERROR(c.Expect("="));
    }
    if (name == "axes") {
      CONCORD_ASSIGN_OR_RETURN(a.axes, c.IntList("axes", SIZE_MAX));
    } else if (name == "sizes") {
      CONCORD_ASSIGN_OR_RETURN(a.sizes, c.IntList("sizes", SIZE_MAX));
    } else if (name == "axis") {
      CONCORD_ASSIGN_OR_RETURN(a.axis, c.Int("axis"));
    } else if (name == "depth") {
      CONCORD_ASSIGN_OR_RETURN(a.depth, c.Int("depth"));
    } else if (name == "keepdims") {
      a.keepdims = true;
    } else if (name == "transpose_a") {
      a.transpose_a = true;
    } else if (name == "transpose_b") {
      a.transpose_b = true;
    } else if (name == "approximate") {
      a.approximate = true;
    } else if (name == "on") {
      CONCORD_ASSIGN_OR_RETURN(a.on, c.Double("on"));
    } else if (name == "off") {
      CONCORD_ASSIGN_OR_RETURN(a.off, c.Double("off"));
    } else if (name == "dtype") {
      const absl::string_view d = c.Word();
      absl::StatusOr<DType> dtype = engine::DTypeFromName(d);
      if (d.empty() || !dtype.ok()) return Invalid(absl::StrCat("unknown dtype ", Quote(d)));
      a.dtype = *dtype;
    } else if (name == "shape") {
      CONCORD_ASSIGN_OR_RETURN(a.shape, c.ShapeOf("shape attribute"));
    } else if (name == "strides") {
      CONCORD_ASSIGN_OR_RETURN(a.strides, Pair(c, "strides"));
    } else if (name == "dilations") {
      CONCORD_ASSIGN_OR_RETURN(a.dilations, Pair(c, "dilations"));
    } else if (name == "ksize") {
      CONCORD_ASSIGN_OR_RETURN(a.ksize, Pair(c, "ksize"));
    } else {  // padding
      const absl::string_view p = c.Word();
      if (p == engine::PaddingName(engine::Padding::kSame)) {
        a.padding = engine::Padding::kSame;
      } else if (p == engine::PaddingName(engine::Padding::kValid)) {
        a.padding = engine::Padding::kValid;
      } else {
        return Invalid(absl::StrCat("unknown padding ", Quote(p), " (expected SAME or VALID)"));
      }
    }
    if (c.Consume("}")) return a;
    CONCORD_RETURN_IF_ERROR(c.Expect(", "));
  }
}

// Serializable: Unimplemented for the primitives the format cannot write down.
absl::Status Serializable(Primitive p) {
  if (p == Primitive::kCustom) {
    return absl::UnimplementedError(
        "Custom (a CustomGradient) cannot be part of a serialized graph: its functions are C++ "
        "code");
  }
  if (p == Primitive::kAssignResource) {
    return absl::UnimplementedError(
        absl::StrCat("AssignResource cannot be part of a serialized graph: format version ",
                     kGraphFormatVersion, " holds values, not references to live variables"));
  }
  if (PrimitiveFamily(p) == "random") {
    return absl::UnimplementedError(
        absl::StrCat(PrimitiveName(p), " cannot be part of a serialized graph: format version ",
                     kGraphFormatVersion, " does not carry random streams' seeds and keys"));
  }
  if (PrimitiveFamily(p) == "control") {
    return absl::UnimplementedError(
        absl::StrCat(PrimitiveName(p), " cannot be part of a serialized graph: format version ",
                     kGraphFormatVersion, " does not carry subgraphs"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Primitive> PrimitiveFromName(absl::string_view name) {
  for (int i = 0; i < kNumPrimitives; ++i) {
    const Primitive p = static_cast<Primitive>(i);
    if (PrimitiveName(p) == name) return p;
  }
  return Invalid(absl::StrCat("unknown primitive ", Quote(name)));
}

// Parser holds the graph being built; each Parse* reads one line (without its '\n').
class Parser {
 public:
  absl::Status ParseHeader(absl::string_view line) {
    Cursor c(line);
    if (!c.Consume(kMagic)) {
      return Invalid(absl::StrCat("not a serialized Concord graph: expected '",
                                  HeaderLine(kGraphFormatVersion), "', got ", Quote(line)));
    }
    CONCORD_ASSIGN_OR_RETURN(const int64_t version, c.Int("the format version"));
    if (version < kOldestGraphFormatVersion || version > kGraphFormatVersion) {
      return Invalid(absl::StrCat("unsupported format version ", version, "; this build reads ",
                                  "versions ", kOldestGraphFormatVersion, " to ",
                                  kGraphFormatVersion));
    }
    CONCORD_RETURN_IF_ERROR(c.ExpectEnd());
    CONCORD_RETURN_IF_ERROR(Canonical(line, HeaderLine(version)));
    version_ = version;
    return absl::OkStatus();
  }

  absl::Status ParseName(absl::string_view line) {
    absl::string_view quoted = line;
    if (!absl::ConsumePrefix(&quoted, "name \"") || !absl::ConsumeSuffix(&quoted, "\"")) {
      return Invalid(
          absl::StrCat("expected the name line (name \"<C-escaped name>\"), got ", Quote(line)));
    }
    std::string name;
    std::string error;
    if (!absl::CUnescape(quoted, &name, &error)) {
      return Invalid(absl::StrCat("bad escape in the name: ", error));
    }
    CONCORD_RETURN_IF_ERROR(Canonical(line, NameLine(name)));
    graph_.set_name(std::move(name));
    return absl::OkStatus();
  }

  absl::Status ParseInput(absl::string_view line) {
    if (graph_.num_constants() > 0 || !graph_.equations().empty()) {
      return Invalid("inputs come before constants and equations");
    }
    Cursor c(line);
    CONCORD_RETURN_IF_ERROR(c.Expect("input "));
    CONCORD_RETURN_IF_ERROR(ExpectNextId(c, "input"));
    CONCORD_RETURN_IF_ERROR(c.Expect(" "));
    CONCORD_ASSIGN_OR_RETURN(TensorSpec spec, c.Spec());
    CONCORD_RETURN_IF_ERROR(VersionHolds(spec.shape));
    CONCORD_RETURN_IF_ERROR(c.ExpectEnd());
    CONCORD_RETURN_IF_ERROR(Canonical(line, InputLine(graph_.num_values(), spec)));
    graph_.AddInput(std::move(spec));
    return absl::OkStatus();
  }

  absl::Status ParseConstant(absl::string_view line) {
    if (!graph_.equations().empty()) return Invalid("constants come before equations");
    Cursor c(line);
    const bool from_variable = c.Consume("variable ");
    if (!from_variable) CONCORD_RETURN_IF_ERROR(c.Expect("constant "));
    const int64_t id = graph_.num_values();
    CONCORD_RETURN_IF_ERROR(ExpectNextId(c, from_variable ? "variable" : "constant"));
    CONCORD_RETURN_IF_ERROR(c.Expect(" "));
    CONCORD_ASSIGN_OR_RETURN(const TensorSpec spec, c.Spec());
    if (!spec.shape.fully_known()) {
      return Invalid(absl::StrCat(from_variable ? "variable %" : "constant %", id, " is ",
                                  spec.ToString(), ": a constant's sizes cannot be unknown"));
    }
    CONCORD_RETURN_IF_ERROR(c.Expect(" hex:"));
    // The element count is at most 2^48 (Shape::FromDims), so this cannot overflow; the length
    // is compared with the text before anything is allocated.
    const uint64_t nbytes =
        static_cast<uint64_t>(spec.shape.num_elements()) * engine::DTypeSize(spec.dtype);
    const absl::string_view hex = c.rest();
    if (hex.size() != 2 * nbytes) {
      return absl::DataLossError(absl::StrCat("constant %", id, " ", spec.ToString(), " needs ",
                                              2 * nbytes, " hex digits of data, got ", hex.size()));
    }
    Tensor t = Tensor::Empty(spec.shape, spec.dtype);
    auto* bytes = static_cast<unsigned char*>(t.mutable_raw_data());
    for (uint64_t i = 0; i < nbytes; ++i) {
      int nibbles[2];
      for (int k = 0; k < 2; ++k) {
        const char ch = hex[2 * i + k];
        const char* digit = std::strchr(kHexDigits, ch);
        if (ch == '\0' || digit == nullptr) {
          return absl::DataLossError(absl::StrCat("constant %", id, ": ", Quote({&ch, 1}),
                                                  " at data digit ", 2 * i + k,
                                                  " is not a lowercase hex digit"));
        }
        nibbles[k] = static_cast<int>(digit - kHexDigits);
      }
      bytes[i] = static_cast<unsigned char>(nibbles[0] << 4 | nibbles[1]);
      if (spec.dtype == DType::kBool && bytes[i] > 1) {
        return absl::DataLossError(absl::StrCat("constant %", id, ": bool element ", i, " is byte ",
                                                static_cast<int>(bytes[i]),
                                                "; bools are 00 or 01"));
      }
    }
    Graph::Constant constant{std::move(t), from_variable};
    CONCORD_RETURN_IF_ERROR(Canonical(line, ConstantLine(id, constant)));
    graph_.AddConstant(std::move(constant.tensor), from_variable);
    return absl::OkStatus();
  }

  absl::Status ParseEquation(absl::string_view line) {
    Cursor c(line);
    Equation eq;
    // Outputs: %a[, %b ...] = ; they must be the next ids.
    int64_t expected = graph_.num_values();
    while (true) {
      CONCORD_ASSIGN_OR_RETURN(const int64_t id, c.Id());
      if (id != expected) return IdOrder("equation output", id, expected);
      eq.output_ids.push_back(id);
      ++expected;
      if (c.Consume(" = ")) break;
      CONCORD_RETURN_IF_ERROR(c.Expect(", "));
    }
    const absl::string_view name = c.Word();
    CONCORD_ASSIGN_OR_RETURN(eq.primitive, PrimitiveFromName(name));
    if (absl::Status s = Serializable(eq.primitive); !s.ok()) return Invalid(s.message());
    CONCORD_RETURN_IF_ERROR(c.Expect("("));
    if (!c.Consume(")")) {
      while (true) {
        CONCORD_ASSIGN_OR_RETURN(const int64_t id, c.Id());
        if (id >= graph_.num_values()) {
          return Invalid(absl::StrCat("input %", id, " of ", name,
                                      " is used before it is defined (defined so far: %0..%",
                                      graph_.num_values() - 1, ")"));
        }
        eq.input_ids.push_back(id);
        eq.input_specs.push_back(graph_.spec(id));
        if (c.Consume(")")) break;
        CONCORD_RETURN_IF_ERROR(c.Expect(", "));
      }
    }
    if (c.Consume(" ")) {
      if (c.Peek('{')) {
        CONCORD_ASSIGN_OR_RETURN(eq.attrs, ParseAttrs(c));
        CONCORD_RETURN_IF_ERROR(VersionHolds(eq.attrs.shape));
        CONCORD_RETURN_IF_ERROR(c.Expect(" "));
      }
    } else {
      CONCORD_RETURN_IF_ERROR(c.Expect(" "));
    }
    CONCORD_RETURN_IF_ERROR(c.Expect(": "));
    while (true) {
      CONCORD_ASSIGN_OR_RETURN(TensorSpec spec, c.Spec());
      CONCORD_RETURN_IF_ERROR(VersionHolds(spec.shape));
      eq.output_specs.push_back(std::move(spec));
      if (c.AtEnd()) break;
      CONCORD_RETURN_IF_ERROR(c.Expect(", "));
    }
    if (eq.output_specs.size() != eq.output_ids.size()) {
      return Invalid(absl::StrCat(eq.output_ids.size(), " output ids but ", eq.output_specs.size(),
                                  " output specs"));
    }
    const int arity = PrimitiveArity(eq.primitive);
    if (arity != kVariadic && static_cast<int>(eq.input_ids.size()) != arity) {
      return Invalid(absl::StrCat(name, " takes ", arity, " inputs, got ", eq.input_ids.size()));
    }
    CONCORD_RETURN_IF_ERROR(Canonical(line, EquationLine(eq)));
    if (GetOpDef(eq.primitive).infer == nullptr) {
      return Invalid(absl::StrCat(name, " has no shape rule"));
    }
    absl::StatusOr<std::vector<TensorSpec>> inferred =
        InferSpecs(eq.primitive, eq.input_specs, eq.attrs);
    if (!inferred.ok()) {
      return Invalid(
          absl::StrCat("the shape rule rejects the equation: ", inferred.status().message()));
    }
    if (absl::MakeConstSpan(*inferred) != absl::MakeConstSpan(eq.output_specs)) {
      return Invalid(absl::StrCat(
          "the shape rule of ", name, " gives ",
          absl::StrJoin(
              *inferred, ", ",
              [](std::string* out, const TensorSpec& s) { absl::StrAppend(out, s.ToString()); }),
          " but the line records ",
          absl::StrJoin(eq.output_specs, ", ", [](std::string* out, const TensorSpec& s) {
            absl::StrAppend(out, s.ToString());
          })));
    }
    graph_.AddEquation(std::move(eq));
    return absl::OkStatus();
  }

  absl::Status ParseReturn(absl::string_view line) {
    Cursor c(line);
    CONCORD_RETURN_IF_ERROR(c.Expect("return"));
    std::vector<int64_t> outputs;
    if (c.Consume(" ")) {
      while (true) {
        CONCORD_ASSIGN_OR_RETURN(const int64_t id, c.Id());
        if (id >= graph_.num_values()) {
          return Invalid(absl::StrCat("output %", id, " is out of range: the graph defines ",
                                      graph_.num_values(), " values"));
        }
        outputs.push_back(id);
        if (c.AtEnd()) break;
        CONCORD_RETURN_IF_ERROR(c.Expect(", "));
      }
    }
    CONCORD_RETURN_IF_ERROR(c.ExpectEnd());
    CONCORD_RETURN_IF_ERROR(Canonical(line, ReturnLine(outputs)));
    graph_.SetOutputs(std::move(outputs));
    return absl::OkStatus();
  }

  Graph& graph() { return graph_; }

 private:
  absl::Status ExpectNextId(Cursor& c, absl::string_view what) {
    CONCORD_ASSIGN_OR_RETURN(const int64_t id, c.Id());
    if (id != graph_.num_values()) return IdOrder(what, id, graph_.num_values());
    return absl::OkStatus();
  }

  static absl::Status IdOrder(absl::string_view what, int64_t id, int64_t expected) {
    return Invalid(absl::StrCat(what, " %", id, " should be %", expected,
                                ": ids are dense and in definition order"));
  }

  // VersionHolds: version 1 has no unknown dimensions (Note [Serialized graph format]).
  absl::Status VersionHolds(const Shape& shape) const {
    if (version_ >= 2 || shape.fully_known()) return absl::OkStatus();
    return Invalid(absl::StrCat("shape ", shape.ToString(), " has an unknown dimension, which ",
                                "format version ", version_, " cannot hold (unknown sizes need ",
                                "version 2)"));
  }

  // Canonical: the line must be exactly what SerializeGraph writes for what was parsed.
  static absl::Status Canonical(absl::string_view line, absl::string_view rendered) {
    if (line == rendered) return absl::OkStatus();
    return Invalid(absl::StrCat("the line is not in canonical form; expected ", Quote(rendered)));
  }

  Graph graph_;
  int64_t version_ = kGraphFormatVersion;
};

}  // namespace

absl::StatusOr<std::string> SerializeGraph(const Graph& graph) {
  for (const Equation& eq : graph.equations()) {
    if (absl::Status s = Serializable(eq.primitive); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("SerializeGraph: graph '", graph.name(), "': ", s.message()));
    }
    if (eq.attrs.custom != nullptr || !eq.attrs.subgraphs.empty() || eq.attrs.resource != nullptr) {
      return absl::UnimplementedError(absl::StrCat("SerializeGraph: graph '", graph.name(),
                                                   "': ", eq.ToString(),
                                                   " carries functions, subgraphs or a resource"));
    }
  }
  for (int64_t k = 0; k < graph.num_constants(); ++k) {
    const Graph::Constant& c = graph.constants()[static_cast<size_t>(k)];
    if (c.resource != nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          "SerializeGraph: graph '", graph.name(), "': %", graph.constant_id(k),
          " reads resource '", c.resource->name(), "' when the graph runs; format version ",
          kGraphFormatVersion, " holds values, not references to live variables"));
    }
  }
  std::string out =
      absl::StrCat(HeaderLine(kGraphFormatVersion), "\n", NameLine(graph.name()), "\n");
  for (int64_t i = 0; i < graph.num_inputs(); ++i) {
    absl::StrAppend(&out, InputLine(i, graph.input_specs()[static_cast<size_t>(i)]), "\n");
  }
  for (int64_t k = 0; k < graph.num_constants(); ++k) {
    absl::StrAppend(
        &out, ConstantLine(graph.constant_id(k), graph.constants()[static_cast<size_t>(k)]), "\n");
  }
  for (const Equation& eq : graph.equations()) absl::StrAppend(&out, EquationLine(eq), "\n");
  absl::StrAppend(&out, ReturnLine(graph.outputs()), "\nend\n");
  return out;
}

absl::StatusOr<Graph> ParseGraph(absl::string_view text) {
  enum class Section { kHeader, kName, kBody, kReturned, kEnded };
  Parser parser;
  Section section = Section::kHeader;
  int64_t line_no = 0;
  absl::string_view rest = text;
  while (!rest.empty()) {
    ++line_no;
    const size_t newline = rest.find('\n');
    if (newline == absl::string_view::npos) {
      return absl::DataLossError(
          absl::StrCat("ParseGraph: line ", line_no, " has no newline: the text is truncated"));
    }
    const absl::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline + 1);
    const auto at_line = [&](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat("ParseGraph: line ", line_no, ": ", s.message()));
    };
    absl::Status status;
    switch (section) {
      case Section::kHeader:
        status = parser.ParseHeader(line);
        section = Section::kName;
        break;
      case Section::kName:
        status = parser.ParseName(line);
        section = Section::kBody;
        break;
      case Section::kBody:
        if (absl::StartsWith(line, "input ")) {
          status = parser.ParseInput(line);
        } else if (absl::StartsWith(line, "constant ") || absl::StartsWith(line, "variable ")) {
          status = parser.ParseConstant(line);
        } else if (absl::StartsWith(line, "%")) {
          status = parser.ParseEquation(line);
        } else if (absl::StartsWith(line, "return")) {
          status = parser.ParseReturn(line);
          section = Section::kReturned;
        } else if (line == "end") {
          status = Invalid("'end' before the 'return' line");
        } else if (absl::StartsWith(line, "name ")) {
          status = Invalid("a second name line");
        } else {
          status =
              Invalid(absl::StrCat("expected an input, constant, variable, equation or "
                                   "return line, got ",
                                   Quote(line)));
        }
        break;
      case Section::kReturned:
        if (line != "end") {
          status = Invalid(absl::StrCat("expected 'end' after the return line, got ", Quote(line)));
        }
        section = Section::kEnded;
        break;
      case Section::kEnded:
        status = Invalid(absl::StrCat("text after 'end': ", Quote(line)));
        break;
    }
    if (!status.ok()) return at_line(status);
    if (section == Section::kEnded && !rest.empty()) {
      return Invalid(
          absl::StrCat("ParseGraph: line ", line_no + 1, ": text after 'end': ", Quote(rest)));
    }
  }
  if (section != Section::kEnded) {
    return absl::DataLossError(absl::StrCat("ParseGraph: the text ends after line ", line_no,
                                            " without its 'end' line: it is truncated"));
  }
  if (absl::Status s = parser.graph().Verify(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("ParseGraph: ", s.message()));
  }
  return std::move(parser.graph());
}

}  // namespace concord::autodiff
