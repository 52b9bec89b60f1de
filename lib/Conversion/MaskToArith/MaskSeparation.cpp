//===- MaskSeparation.cpp - masks as bitwise forms of 1-D terms -----------===//
//
// Implements sattn/Conversion/MaskSeparation.h. Each i1 value of a predicate
// body gets the quantity it depends on from its operands; sums, differences
// and constant multiples of q and k are tracked as linear forms, so that
// `q - k`, `q >= k` and `q - k < 2048` are seen to depend on q - k only.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/MaskSeparation.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <cstdlib>

using namespace mlir;
using namespace sattn;
using namespace sattn::mask;

namespace {

/// TermDependence plus "depends on q and k otherwise".
enum class Dependence { Invariant, Query, Key, Offset, General };

Dependence join(Dependence a, Dependence b) {
  if (a == Dependence::Invariant)
    return b;
  if (b == Dependence::Invariant || a == b)
    return a;
  return Dependence::General;
}

/// `q * qCoef + k * kCoef + constant`, `constant` only meaningful when
/// `constantRest` (else the rest is some function of b and h).
struct Linear {
  int64_t qCoef = 0, kCoef = 0, constant = 0;
  bool constantRest = true;
};

/// Coefficients and constants beyond this are not tracked: the forms stay
/// exact and small enough that no position below 2^40 makes them wrap.
constexpr int64_t kLinearLimit = int64_t(1) << 20;

bool small(int64_t v) { return std::llabs(v) <= kLinearLimit; }

Dependence dependenceOf(const Linear &l) {
  if (l.qCoef == 0 && l.kCoef == 0)
    return Dependence::Invariant;
  if (l.kCoef == 0)
    return Dependence::Query;
  if (l.qCoef == 0)
    return Dependence::Key;
  if (l.qCoef == -l.kCoef)
    return Dependence::Offset;
  return Dependence::General;
}

std::optional<Linear> combine(const Linear &a, const Linear &b, int64_t sign) {
  Linear r;
  r.qCoef = a.qCoef + sign * b.qCoef;
  r.kCoef = a.kCoef + sign * b.kCoef;
  r.constant = a.constant + sign * b.constant;
  r.constantRest = a.constantRest && b.constantRest;
  if (!small(r.qCoef) || !small(r.kCoef) || !small(r.constant))
    return std::nullopt;
  return r;
}

std::optional<Linear> scale(const Linear &a, int64_t factor) {
  if (!small(factor))
    return std::nullopt;
  Linear r{a.qCoef * factor, a.kCoef * factor, a.constant * factor,
           a.constantRest};
  if (!small(r.qCoef) || !small(r.kCoef) || !small(r.constant))
    return std::nullopt;
  return r;
}

struct Facts {
  Dependence dependence = Dependence::General;
  std::optional<Linear> linear; // index values built from q, k, constants
};

/// The facts of every value of one predicate body, in program order.
class BodyAnalysis {
public:
  explicit BodyAnalysis(PredicateOp op) {
    Block &body = op.getBody().front();
    facts[body.getArgument(0)] = {Dependence::Invariant, Linear{0, 0, 0, false}};
    facts[body.getArgument(1)] = {Dependence::Invariant, Linear{0, 0, 0, false}};
    facts[body.getArgument(2)] = {Dependence::Query, Linear{1, 0, 0, true}};
    facts[body.getArgument(3)] = {Dependence::Key, Linear{0, 1, 0, true}};
    for (Operation &inner : body.without_terminator())
      for (Value result : inner.getResults())
        facts[result] = analyze(inner, result);
  }
  Dependence dependence(Value v) const {
    auto it = facts.find(v);
    return it == facts.end() ? Dependence::General : it->second.dependence;
  }

private:
  Facts analyze(Operation &op, Value result) {
    Dependence joined = Dependence::Invariant;
    for (Value operand : op.getOperands())
      joined = join(joined, facts.lookup(operand).dependence);
    Facts f{joined, std::nullopt};
    if (!result.getType().isIndex() && !isa<arith::CmpIOp>(op))
      return f;
    APInt constant;
    if (matchPattern(result, m_ConstantInt(&constant)) &&
        constant.getSignificantBits() <= 64 && small(constant.getSExtValue())) {
      f.linear = Linear{0, 0, constant.getSExtValue(), true};
      return f;
    }
    auto linearOf = [&](Value v) { return facts.lookup(v).linear; };
    if (isa<arith::AddIOp, arith::SubIOp>(op)) {
      auto a = linearOf(op.getOperand(0)), b = linearOf(op.getOperand(1));
      if (a && b)
        f.linear = combine(*a, *b, isa<arith::AddIOp>(op) ? 1 : -1);
    } else if (isa<arith::MulIOp>(op)) {
      auto a = linearOf(op.getOperand(0)), b = linearOf(op.getOperand(1));
      if (a && b && b->qCoef == 0 && b->kCoef == 0 && b->constantRest)
        f.linear = scale(*a, b->constant);
      else if (a && b && a->qCoef == 0 && a->kCoef == 0 && a->constantRest)
        f.linear = scale(*b, a->constant);
    } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
      f.linear = std::nullopt;
      auto a = linearOf(cmp.getLhs()), b = linearOf(cmp.getRhs());
      if (joined != Dependence::General || !a || !b)
        return f;
      auto diff = combine(*a, *b, -1);
      if (!diff || dependenceOf(*diff) != Dependence::Offset)
        return f;
      // `==` and `!=` compare the wrapped difference, a function of q - k.
      // An ordering compares the sides themselves: exact when both are
      // small linear forms of positions, which never wrap.
      bool equality = cmp.getPredicate() == arith::CmpIPredicate::eq ||
                      cmp.getPredicate() == arith::CmpIPredicate::ne;
      bool exact = a->constantRest && b->constantRest &&
                   std::llabs(a->qCoef) <= 1 && std::llabs(a->kCoef) <= 1 &&
                   std::llabs(b->qCoef) <= 1 && std::llabs(b->kCoef) <= 1;
      bool signedOrder = cmp.getPredicate() != arith::CmpIPredicate::ult &&
                         cmp.getPredicate() != arith::CmpIPredicate::ule &&
                         cmp.getPredicate() != arith::CmpIPredicate::ugt &&
                         cmp.getPredicate() != arith::CmpIPredicate::uge;
      if (equality || (exact && signedOrder))
        f.dependence = Dependence::Offset;
      return f;
    }
    if (f.linear)
      f.dependence = dependenceOf(*f.linear);
    return f;
  }

  llvm::DenseMap<Value, Facts> facts;
};

TermDependence asTerm(Dependence d) {
  switch (d) {
  case Dependence::Invariant:
    return TermDependence::Invariant;
  case Dependence::Query:
    return TermDependence::Query;
  case Dependence::Key:
    return TermDependence::Key;
  default:
    return TermDependence::Offset;
  }
}

class Separator {
public:
  std::optional<unsigned> mask(Value m) {
    if (auto it = nodeOf.find(m); it != nodeOf.end())
      return it->second;
    Operation *op = m.getDefiningOp();
    if (!op)
      return std::nullopt;
    std::optional<unsigned> node =
        llvm::TypeSwitch<Operation *, std::optional<unsigned>>(op)
            .Case([&](FullOp) { return term(m, {}, Dependence::Invariant); })
            .Case([&](EmptyOp) { return term(m, {}, Dependence::Invariant); })
            .Case([&](TailQueriesOp) { return term(m, {}, Dependence::Query); })
            .Case([&](UnionOp u) { return nary(SeparatedNode::Kind::Or, u.getInputs()); })
            .Case([&](IntersectOp i) {
              return nary(SeparatedNode::Kind::And, i.getInputs());
            })
            .Case([&](ComplementOp c) {
              return nary(SeparatedNode::Kind::Not, c.getInput());
            })
            .Case([&](PerHeadOp p) -> std::optional<unsigned> {
              auto node = nary(SeparatedNode::Kind::PerHead, p.getInputs());
              if (node)
                llvm::append_range(out.nodes[*node].headInputs, p.getAssignment());
              return node;
            })
            .Case([&](PredicateOp p) -> std::optional<unsigned> {
              BodyAnalysis facts(p);
              auto yield = cast<mask::YieldOp>(p.getBody().front().getTerminator());
              return body(p, facts, yield.getCondition());
            })
            .Default([](Operation *) { return std::nullopt; });
    if (node)
      nodeOf[m] = *node;
    return node;
  }

  SeparatedMask take(unsigned root) {
    out.root = root;
    return std::move(out);
  }

private:
  unsigned add(SeparatedNode node) {
    out.nodes.push_back(std::move(node));
    return out.nodes.size() - 1;
  }

  unsigned term(Value v, PredicateOp predicate, Dependence d) {
    SeparatedNode node;
    node.dependence = asTerm(d);
    node.value = v;
    node.predicate = predicate;
    return add(std::move(node));
  }

  std::optional<unsigned> nary(SeparatedNode::Kind kind, ValueRange inputs) {
    SeparatedNode node;
    node.kind = kind;
    for (Value in : inputs) {
      std::optional<unsigned> child = mask(in);
      if (!child)
        return std::nullopt;
      node.children.push_back(*child);
    }
    return add(std::move(node));
  }

  /// An i1 value of `p`'s body: a term when it depends on one quantity,
  /// else a bitwise op of such values.
  std::optional<unsigned> body(PredicateOp p, const BodyAnalysis &facts,
                               Value v) {
    if (auto it = nodeOf.find(v); it != nodeOf.end())
      return it->second;
    std::optional<unsigned> node;
    Dependence d = facts.dependence(v);
    if (d != Dependence::General) {
      node = term(v, p, d);
    } else if (Operation *op = v.getDefiningOp();
               op && isa<arith::AndIOp, arith::OrIOp, arith::XOrIOp>(op)) {
      SeparatedNode combined;
      combined.kind = isa<arith::AndIOp>(op)  ? SeparatedNode::Kind::And
                      : isa<arith::OrIOp>(op) ? SeparatedNode::Kind::Or
                                              : SeparatedNode::Kind::Xor;
      for (Value operand : op->getOperands()) {
        std::optional<unsigned> child = body(p, facts, operand);
        if (!child)
          return std::nullopt;
        combined.children.push_back(*child);
      }
      node = add(std::move(combined));
    }
    if (node)
      nodeOf[v] = *node;
    return node;
  }

  SeparatedMask out;
  llvm::DenseMap<Value, unsigned> nodeOf;
};

} // namespace

unsigned SeparatedMask::countTerms(TermDependence dependence) const {
  unsigned n = 0;
  for (const SeparatedNode &node : nodes)
    n += node.kind == SeparatedNode::Kind::Term && node.dependence == dependence;
  return n;
}

std::optional<SeparatedMask> sattn::separateMask(Value mask) {
  Separator separator;
  std::optional<unsigned> root = separator.mask(mask);
  if (!root)
    return std::nullopt;
  return separator.take(*root);
}

std::optional<TermDependence>
SeparatedMask::dependenceOf(unsigned n) const {
  const SeparatedNode &node = nodes[n];
  if (node.kind == SeparatedNode::Kind::Term)
    return node.dependence;
  TermDependence joined = TermDependence::Invariant;
  for (unsigned child : node.children) {
    std::optional<TermDependence> d = dependenceOf(child);
    if (!d)
      return std::nullopt;
    if (*d == TermDependence::Invariant)
      continue;
    if (joined != TermDependence::Invariant && joined != *d)
      return std::nullopt;
    joined = *d;
  }
  return joined;
}

FailureOr<Value> sattn::emitSeparatedNode(OpBuilder &b, Location loc,
                                          const SeparatedMask &mask,
                                          unsigned n,
                                          const ElementMaskEnv &env) {
  const SeparatedNode &node = mask.nodes[n];
  if (node.kind == SeparatedNode::Kind::Term)
    return node.predicate
               ? emitPredicateBodyValue(b, loc, node.predicate, node.value, env)
               : emitElementMask(b, loc, node.value, env);
  SmallVector<Value> inputs;
  for (unsigned child : node.children) {
    FailureOr<Value> v = emitSeparatedNode(b, loc, mask, child, env);
    if (failed(v))
      return failure();
    inputs.push_back(*v);
  }
  return emitSeparatedCombine(b, loc, node, inputs, env.h, b.getI1Type());
}

Value sattn::emitSeparatedCombine(OpBuilder &b, Location loc,
                                  const SeparatedNode &node,
                                  ArrayRef<Value> inputs, Value head,
                                  Type type) {
  assert(node.kind != SeparatedNode::Kind::Term && "terms are emitted");
  auto constant = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, type, b.getIntegerAttr(type, v))
        .getResult();
  };
  switch (node.kind) {
  case SeparatedNode::Kind::Not:
    return arith::XOrIOp::create(b, loc, inputs.front(), constant(-1));
  case SeparatedNode::Kind::PerHead: {
    Value result = inputs[node.headInputs.back()];
    for (int64_t h = int64_t(node.headInputs.size()) - 2; h >= 0; --h) {
      Value isHead = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq, head,
          arith::ConstantIndexOp::create(b, loc, h));
      result = arith::SelectOp::create(b, loc, isHead,
                                       inputs[node.headInputs[h]], result);
    }
    return result;
  }
  default: {
    Value acc;
    for (Value v : inputs) {
      if (!acc)
        acc = v;
      else if (node.kind == SeparatedNode::Kind::And)
        acc = arith::AndIOp::create(b, loc, acc, v);
      else if (node.kind == SeparatedNode::Kind::Or)
        acc = arith::OrIOp::create(b, loc, acc, v);
      else
        acc = arith::XOrIOp::create(b, loc, acc, v);
    }
    return acc ? acc : constant(node.kind == SeparatedNode::Kind::And ? -1 : 0);
  }
  }
}
