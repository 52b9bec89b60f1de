//===- AST.h - abstract syntax of .sattn spec files -----------*- C++ -*-===//
//
// The parser builds this tree; the type checker (Sema) annotates it in place
// (expression types, resolved pattern parameters, per-head assignments,
// the effective kernel configuration); the emitter and the summary printer
// read the annotated tree. Names and spellings are StringRefs into the
// source buffer, which must outlive the tree.
//
// Expression depth is bounded by the parser (kMaxExprDepth), so every
// recursive walk over a tree that the parser accepted is bounded as well.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_AST_H
#define SATTN_SPEC_AST_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace sattn::spec {

struct PatternInfo;
struct TableDecl;

/// Deepest expression tree (and deepest parenthesis / prefix-operator
/// nesting) the parser accepts.
constexpr unsigned kMaxExprDepth = 128;

/// The types of the expression language. Float exists only for pattern
/// arguments such as `tau = 0.9`.
enum class ValueType { Unknown, Int, Bool, Mask, Float };
llvm::StringRef getTypeName(ValueType type);

/// The index variables of a mask: batch, query head, query and key position.
enum class IndexVar { B, H, Q, K };
llvm::StringRef getVarName(IndexVar var);

/// Integer functions of the expression language.
enum class Builtin { None, Abs, Min, Max, Clamp };

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

class Expr {
public:
  enum class Kind {
    IntLiteral,
    FloatLiteral,
    BoolLiteral,
    Var,
    Unary,
    Binary,
    Logical,
    Call,
    Index
  };

  virtual ~Expr() = default;
  Kind getKind() const { return kind; }
  /// Where the expression starts in the source.
  llvm::SMLoc getLoc() const { return loc; }
  /// Height of the tree rooted here (a leaf has depth 1).
  unsigned getDepth() const { return depth; }
  /// Set by Sema; Unknown before type checking.
  ValueType getType() const { return type; }
  void setType(ValueType t) { type = t; }

protected:
  Expr(Kind kind, llvm::SMLoc loc, unsigned depth)
      : kind(kind), loc(loc), depth(depth) {}

private:
  Kind kind;
  llvm::SMLoc loc;
  unsigned depth;
  ValueType type = ValueType::Unknown;
};
using ExprPtr = std::unique_ptr<Expr>;

class IntLiteralExpr : public Expr {
public:
  IntLiteralExpr(llvm::SMLoc loc, int64_t value)
      : Expr(Kind::IntLiteral, loc, 1), value(value) {}
  int64_t getValue() const { return value; }
  static bool classof(const Expr *e) {
    return e->getKind() == Kind::IntLiteral;
  }

private:
  int64_t value;
};

class FloatLiteralExpr : public Expr {
public:
  FloatLiteralExpr(llvm::SMLoc loc, double value, llvm::StringRef spelling)
      : Expr(Kind::FloatLiteral, loc, 1), value(value), spelling(spelling) {}
  double getValue() const { return value; }
  llvm::StringRef getSpelling() const { return spelling; }
  static bool classof(const Expr *e) {
    return e->getKind() == Kind::FloatLiteral;
  }

private:
  double value;
  llvm::StringRef spelling;
};

class BoolLiteralExpr : public Expr {
public:
  BoolLiteralExpr(llvm::SMLoc loc, bool value)
      : Expr(Kind::BoolLiteral, loc, 1), value(value) {}
  bool getValue() const { return value; }
  static bool classof(const Expr *e) {
    return e->getKind() == Kind::BoolLiteral;
  }

private:
  bool value;
};

class VarExpr : public Expr {
public:
  VarExpr(llvm::SMLoc loc, IndexVar var) : Expr(Kind::Var, loc, 1), var(var) {}
  IndexVar getVar() const { return var; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Var; }

private:
  IndexVar var;
};

class UnaryExpr : public Expr {
public:
  enum class Op { Neg, Not };
  UnaryExpr(llvm::SMLoc loc, Op op, ExprPtr operand)
      : Expr(Kind::Unary, loc, operand->getDepth() + 1), op(op),
        operand(std::move(operand)) {}
  Op getOp() const { return op; }
  const Expr &getOperand() const { return *operand; }
  Expr &getOperand() { return *operand; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Unary; }

private:
  Op op;
  ExprPtr operand;
};

class BinaryExpr : public Expr {
public:
  enum class Op { Add, Sub, Mul, Div, Mod, Eq, Ne, Lt, Le, Gt, Ge };
  BinaryExpr(Op op, llvm::SMLoc opLoc, ExprPtr lhs, ExprPtr rhs);
  Op getOp() const { return op; }
  llvm::SMLoc getOpLoc() const { return opLoc; }
  const Expr &getLhs() const { return *lhs; }
  const Expr &getRhs() const { return *rhs; }
  Expr &getLhs() { return *lhs; }
  Expr &getRhs() { return *rhs; }
  bool isComparison() const { return op >= Op::Eq; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Binary; }

private:
  Op op;
  llvm::SMLoc opLoc;
  ExprPtr lhs, rhs;
};
llvm::StringRef getOpSpelling(BinaryExpr::Op op);

/// `a & b & c` or `a | b | c`, kept flat: the operators are associative, and
/// a flat list lets the emitter gather all Bool operands of a mixed
/// Bool/Mask chain into a single `mask.predicate`.
class LogicalExpr : public Expr {
public:
  enum class Op { And, Or };
  LogicalExpr(Op op, llvm::SMLoc opLoc, std::vector<ExprPtr> operands);
  Op getOp() const { return op; }
  llvm::SMLoc getOpLoc() const { return opLoc; }
  llvm::ArrayRef<ExprPtr> getOperands() const { return operands; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Logical; }

private:
  Op op;
  llvm::SMLoc opLoc; // the first operator
  std::vector<ExprPtr> operands;
};

/// One argument of a call: positional (empty name) or `name = value`.
struct Argument {
  llvm::StringRef name;
  llvm::SMLoc nameLoc;
  ExprPtr value;
};

/// A pattern parameter after Sema bound the arguments and applied defaults.
struct ResolvedParam {
  bool present = false; // given or defaulted; false for absent optionals
  bool given = false;   // written in the spec
  int64_t intValue = 0;
  double floatValue = 0.0;
  bool boolValue = false;
  llvm::StringRef tableName;
  const TableDecl *table = nullptr;
  const Expr *expr = nullptr; // the head expression of strided's offset
  llvm::SMLoc loc;
};

/// `name`, `name(args)`: a named pattern or an integer builtin. A bare
/// identifier other than b/h/q/k parses as a call without parentheses; Sema
/// decides whether it names a pattern.
class CallExpr : public Expr {
public:
  CallExpr(llvm::SMLoc loc, llvm::StringRef callee, bool hasParens,
           std::vector<Argument> args);
  llvm::StringRef getCallee() const { return callee; }
  bool hasParens() const { return parens; }
  llvm::ArrayRef<Argument> getArgs() const { return args; }
  std::vector<Argument> &getArgs() { return args; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Call; }

  // Sema annotations.
  Builtin builtin = Builtin::None;
  const PatternInfo *pattern = nullptr;
  std::vector<ResolvedParam> params; // parallel to pattern->params
  // per_head only: the selector, the operand masks, the head assignment.
  const Expr *selector = nullptr;
  std::vector<const Expr *> maskOperands;
  std::vector<int64_t> assignment;

private:
  llvm::StringRef callee;
  bool parens;
  std::vector<Argument> args;
};

/// `table[i, j, ...]`: a runtime table lookup.
class IndexExpr : public Expr {
public:
  IndexExpr(llvm::SMLoc loc, llvm::StringRef table,
            std::vector<ExprPtr> indices);
  llvm::StringRef getTableName() const { return tableName; }
  llvm::ArrayRef<ExprPtr> getIndices() const { return indices; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Index; }

  const TableDecl *table = nullptr; // Sema annotation

private:
  llvm::StringRef tableName;
  std::vector<ExprPtr> indices;
};

/// Prints `expr` in spec syntax with the fewest parentheses that keep its
/// meaning. After Sema, patterns print with every parameter resolved.
void printExpr(const Expr &expr, llvm::raw_ostream &os);

/// The shortest decimal spelling that reads back as exactly `value`, always
/// with a '.' or an exponent so that it lexes as a float.
std::string formatSpecFloat(double value);

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

enum class ElementType { Bool, I32, I64 };
llvm::StringRef getElementTypeName(ElementType type);

enum class DType { BF16, FP16 };
llvm::StringRef getDTypeName(DType dtype);

struct TableDim {
  std::string text; // canonical: "b", "h", "q", "k", "q/64", "k/64", "7"
  llvm::SMLoc loc;
};

struct TableDecl {
  llvm::StringRef name;
  llvm::SMLoc loc;
  ElementType elementType = ElementType::Bool;
  std::vector<TableDim> dims;
};

/// A `key = value` item; `keyLoc` is invalid when the key was not written.
template <typename T> struct Setting {
  std::optional<T> value;
  llvm::SMLoc keyLoc;
  llvm::SMLoc valueLoc;
  bool isSet() const { return value.has_value(); }
};

/// The configuration with defaults applied (filled in by Sema).
struct KernelConfig {
  DType dtype = DType::BF16;
  int64_t headDim = 128;
  int64_t heads = 1;
  int64_t kvHeads = 1;
  double scale = 0.0;
  bool scaleIsDefault = true;
  bool returnLse = false;
  /// The kernel also writes the per-block maxima of its attention
  /// probabilities (docs/KERNEL_ABI.md, "Block maxima").
  bool blockMax = false;
};

struct KernelDecl {
  llvm::StringRef name;
  llvm::SMLoc loc; // of the name
  llvm::SMLoc lbraceLoc;

  Setting<DType> dtype;
  Setting<int64_t> headDim;
  Setting<int64_t> heads;
  Setting<int64_t> kvHeads;
  Setting<double> scale;
  Setting<bool> returnLse;
  Setting<bool> blockMax;
  std::vector<std::unique_ptr<TableDecl>> tables;
  ExprPtr mask;
  llvm::SMLoc maskKeyLoc;

  // Sema annotations.
  KernelConfig config;
  /// Names of the dynamic (estimated) patterns the mask uses, in order.
  std::vector<llvm::StringRef> dynamicPatterns;

  const TableDecl *lookupTable(llvm::StringRef name) const;
};

struct SpecFile {
  std::vector<std::unique_ptr<KernelDecl>> kernels;
};

} // namespace sattn::spec

#endif // SATTN_SPEC_AST_H
