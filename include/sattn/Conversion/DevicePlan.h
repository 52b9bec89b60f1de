//===- DevicePlan.h - the tile plan built by generated code ---*- C++ -*-===//
//
// A kernel's plan builder as generated code, for the GPU (next to the
// attention kernel, launched by libsattn_runtime on the kernel's stream)
// and for the CPU (run by the tests against the host planner). It writes
// the plan buffers of docs/KERNEL_ABI.md in their Range-only form: for each
// plan class and query tile, the KV tiles that hold a kept pair, as
// maximal runs of FULL and of PARTIAL tiles in key order (exactly what the
// host planner builds with PlanOptions::gathers = false). A kernel that
// reads Gather and List segments may also get a List segment of column
// keys per query tile (ColumnLists.cpp), Gather segments of lattice keys
// (LatticeGathers.cpp) or of diagonal bands (DiagonalBands.cpp).
//
// The builder runs in six stages, each a loop over independent items so
// that a GPU runs one thread per item and the CPU a plain loop:
//   summarize (chunk of 32 entries of a table): its minimum and maximum, so
//             that long table ranges are bounded from a few summaries
//   classify  (class, query tile, KV tile): decide the tile from interval
//             bounds (TileIntervals.h); tiles left undecided are appended
//             to the work list
//   resolve   (undecided tile, query row): evaluate the row's pairs
//             element by element and record "some pair kept" / "some pair
//             dropped" on the tile's status with atomic ors
//   count     (class, query tile, piece of kRunChunk KV tiles): the
//             segments starting in the piece, added to the row's total
//   scan      (class): the class index entries of the class's (batch,
//             head) pairs, and the offsets, an exclusive prefix sum of the class's
//             counts from row class * numQueryTiles * numKeyTiles (each
//             class owns that many rows of the segment buffer, the most its
//             query tiles can fill, so rows between classes may be unused)
//   write     (class, query tile, piece): the segments starting in the
//             piece, from the row's offset plus the earlier pieces' counts
// Plan classes are the (batch, head) combinations the mask can tell apart:
// class c stands for batch c / classHeads (0 when the mask reads no batch
// index) and head c % classHeads (classHeads = 1 when it reads no head).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_DEVICEPLAN_H
#define SATTN_CONVERSION_DEVICEPLAN_H

#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/TileIntervals.h"
#include "sattn/Core/KernelAbi.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "Mask/IR/MaskOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

#include <memory>
#include <optional>
#include <string>

namespace sattn::deviceplan {

/// Tile status words (i32, one per class x query tile x KV tile).
enum TileStatus : int32_t {
  kSkip = 0,
  kFull = 1,
  kPartial = 2,
  kUndecided = 3,
  /// Bits the resolve stage ors into undecided tiles.
  kSeenKept = 4,
  kSeenDropped = 8,
};
/// With column lists, classify stores the column keys of a tile the rest
/// of the mask skips or leaves undecided from this bit on (at most BN).
constexpr int32_t kColumnShift = 16;
/// What classify's column count (or band bit) says of a tile the whole
/// mask keeps entirely: it is FULL, its keys are not listed (gathered).
constexpr int32_t kWholeFull = -1;
/// Classify's bit for a tile with column keys where the mask with the
/// column read as true may drop a pair: if the tile ends up listed, its
/// query tile's List segment needs mask code.
constexpr int32_t kColumnsMasked = 1 << 12;
/// The count stage ors this bit into a query tile's column bound (an int64
/// count) when one of its listed tiles has kColumnsMasked; without it every
/// listed pair is kept and the List segment is FULL.
constexpr int64_t kListMaskedBit = int64_t(1) << 48;

/// With lattice gathers, classify's bits for a tile the rest of the mask
/// skips or leaves undecided, that holds lattice keys of its class: the
/// whole mask may keep a pair of it (its lattice keys join the query
/// tile's Gather segment if the rest ends up skipping it), and the mask
/// with the lattice term read as true keeps every pair of it (those keys
/// need no mask code); or the tile holds no lattice key (kLatticeNone: if
/// the rest skips it, a Gather segment may span it, so that a period
/// longer than a tile does not cut a query tile's gathers apart).
constexpr int32_t kLatticeMay = 1 << 13;
constexpr int32_t kLatticeFull = 1 << 14;
constexpr int32_t kLatticeNone = 1 << 15;
/// For a kLatticeMay tile without kLatticeFull: how many of its first and
/// of its last keys the whole mask surely keeps no pair of (8 bits each
/// from these shifts; tiles of up to kLatticeTrimKeys keys), which its
/// Gather segment leaves out where the tile starts or ends it (a causal
/// diagonal, a document edge).
constexpr int32_t kLatticeTrimLoShift = 16;
constexpr int32_t kLatticeTrimHiShift = 24;
constexpr int64_t kLatticeTrimKeys = 256;

/// With diagonal bands, classify's bit for a tile the rest of the mask
/// skips or leaves undecided and the whole mask may keep a pair of: if the
/// rest ends up skipping it, the bands of its query tile's kept diagonals
/// are gathered over it (DiagonalBands.cpp).
constexpr int32_t kBandMay = 1 << 11;
/// With diagonal bands, classify's bit for a tile the rest surely skips and
/// the whole mask's bounds leave open (may keep a pair, none surely): it is
/// probed and resolved on the whole mask and ends up a Range tile or
/// skipped, as in a Range-only plan, so that a tile whose kept diagonals
/// the rest of the mask drops (a document edge) costs no gathered band.
constexpr int32_t kResolveWhole = 1 << 10;

enum class Stage { Summarize, Classify, Resolve, Count, Scan, Write };
constexpr Stage kStages[] = {Stage::Summarize, Stage::Classify, Stage::Resolve, Stage::Count,
                             Stage::Scan, Stage::Write};
llvm::StringRef stageName(Stage stage);

/// Whether a mask's plans differ between batch elements or between heads.
struct ClassAxes {
  bool batch = false, head = false;
};
ClassAxes classAxes(mlir::Value mask);

/// A monotone bool lookup of key columns in the mask: `T[row..., k]` with
/// row indices the batch, the head, constants or one query unit `q / U`
/// (columns shared by U consecutive query rows), reached through and / or,
/// unions and intersections only (vertical_slash's `vcol[h, k]`, global
/// tokens' `g[k]`). Plans of kernels that read List segments list these
/// columns instead of visiting their tiles (ColumnLists.cpp says why).
struct ColumnTerm {
  mask::LookupOp lookup;
  mask::PredicateOp predicate;
};
std::optional<ColumnTerm> findColumnTerm(KernelOp kernel);

/// A row index of a column or diagonal lookup: the batch, the head, a
/// constant or (columns only) the query unit `q / value`.
struct TableRowIndex {
  enum Kind { Batch, Head, Constant, Unit };
  Kind kind;
  int64_t value;
};
/// The first monotone bool lookup (see isMonotoneTerm) of `kernel` whose
/// indices `matches` accepts, and its predicate.
std::optional<std::pair<mask::LookupOp, mask::PredicateOp>>
findMonotoneLookup(KernelOp kernel,
                   llvm::function_ref<bool(mask::LookupOp, mlir::Block *body)> matches);
/// Whether `index` is the batch or head argument, a constant or a query
/// unit `q / U`, and which.
bool isTableRowIndex(mlir::Value index);
TableRowIndex tableRowIndex(mlir::Value index);
/// The values of `rows` for (batch, head, query unit).
llvm::SmallVector<mlir::Value, 4> emitTableRowIndices(mlir::OpBuilder &b, mlir::Location loc,
                                                      llvm::ArrayRef<TableRowIndex> rows,
                                                      mlir::Value batch, mlir::Value head,
                                                      mlir::Value unit);

/// Whether `term`, an i1 of a predicate body, reaches the body's yield
/// through and / or only, and the predicate reaches `mask` through unions
/// and intersections only: the mask is monotone in the term, so reading it
/// as false gives a mask that keeps less, as true one that keeps more.
bool isMonotoneTerm(mlir::Value term, mask::PredicateOp predicate, mlir::Value mask);
/// A detached copy of `kernel` whose operations `terms` (found by their
/// place in walk order; each with a single i1 result) read as the constant
/// `value`.
std::shared_ptr<mlir::OwningOpRef<mlir::Operation *>>
cloneWithTermAs(KernelOp kernel, llvm::ArrayRef<mlir::Operation *> terms, bool value);

/// A monotone lattice term (LatticeGathers.cpp): a comparison in a
/// predicate that keeps exactly the keys k with (k - s) floormod P < W for
/// a constant P in (0, 2^30] and s, W computed from the batch and head
/// alone (arith ops and table reads):
/// `F == Y` (W = 1 where 0 <= Y < P, else no key; s = shift + Y),
/// `F < W`, `F <= V` (W = V + 1), either operand order, with
/// F = (k - shift) floormod P (the key itself, or the key plus or minus
/// such a value).
/// Plans of kernels that read Gather segments gather its keys instead of
/// visiting their tiles.
struct LatticeTerm {
  enum Form { Equal, Below, AtMost };
  mlir::arith::CmpIOp compare;
  mask::PredicateOp predicate;
  Form form = Below;
  int64_t period = 1;
  /// Body values of the batch and head only (null: 0): the shift of the
  /// key (negated when `negateShift`, for k + x) and Y or W.
  mlir::Value shift, bound;
  bool negateShift = false;
};
std::optional<LatticeTerm> findLatticeTerm(KernelOp kernel);
/// Whether device plans of `kernel` gather a lattice term: the kernel
/// reads Gather segments, its mask has a lattice term and no column term.
bool hasLatticeGathers(KernelOp kernel, bool planGathers);

/// What the stages need of a lattice term: the mask with the term read as
/// false (the rest, which tiles are decided on) and as true (whose must
/// makes gathered keys FULL), in detached copies of the kernel.
struct LatticePlan {
  std::shared_ptr<mlir::OwningOpRef<mlir::Operation *>> rest, onLattice;
  mlir::Value restMask, onLatticeMask;
  LatticeTerm term; // in the kernel itself
};
LatticePlan buildLatticePlan(KernelOp kernel);

/// Keys a query tile's column list may hold (a query tile with more falls
/// back to PARTIAL tiles), when the mask has a column term and the kernel
/// reads List segments; 0 otherwise.
constexpr int64_t kDefaultListKeys = 2048;
int64_t listKeyCapacity(KernelOp kernel, bool planGathers);
/// U of a column term indexed by the query unit `q / U`; 0 for none (its
/// columns are the same for every query row).
int64_t listUnitRows(KernelOp kernel);

/// What the stages need of a column term: the mask with the column lookup
/// read as false (the rest) and as true (what a listed pair's mask is), in
/// detached copies of the kernel, the table and the row indices of the
/// lookup.
struct ColumnPlan {
  std::shared_ptr<mlir::OwningOpRef<mlir::Operation *>> rest, onColumns;
  mlir::Value restMask, onColumnsMask;
  std::string table;
  llvm::SmallVector<TableRowIndex, 3> rowIndices;
  /// U of a `q / U` row index (0: none).
  int64_t unitRows = 0;
};
ColumnPlan buildColumnPlan(KernelOp kernel);

/// The diagonal term of a mask: a monotone bool lookup of diagonals
/// `T[row..., q - k]` with row indices the batch, the head or constants,
/// reached through and / or, unions and intersections only
/// (vertical_slash's `slash[h, q - k]`); or, in a mask without one, the
/// monotone comparisons `q - k == C` (C a constant, |C| < 2^30; at most
/// kMaxDiagonalPoints), a point set of diagonals. Plans of kernels that
/// read Gather segments gather the bands of keys its kept diagonals cross
/// instead of visiting their tiles (DiagonalBands.cpp says why).
struct DiagonalTerm {
  /// The lookup, or null for a point set.
  mask::LookupOp lookup;
  /// The comparisons of a point set and their offsets C.
  llvm::SmallVector<mlir::Operation *, 4> points;
  llvm::SmallVector<int64_t, 4> offsets;
};
constexpr size_t kMaxDiagonalPoints = 16;
std::optional<DiagonalTerm> findDiagonalTerm(KernelOp kernel);
/// Whether device plans of `kernel` gather diagonal bands: the kernel reads
/// Gather segments, its mask has a diagonal term, and neither a column term
/// nor a lattice term (those take precedence; the diagonals then stay in
/// their rest).
bool hasDiagonalBands(KernelOp kernel, bool planGathers);

/// What the stages need of a diagonal term: the mask with the term read as
/// false (the rest, which tiles are decided on) in a detached copy of the
/// kernel; the table and the lookup's row indices, or the offsets of a
/// point set (distinct, highest first).
struct DiagonalPlan {
  std::shared_ptr<mlir::OwningOpRef<mlir::Operation *>> rest;
  mlir::Value restMask;
  std::string table;
  llvm::SmallVector<TableRowIndex, 3> rowIndices;
  llvm::SmallVector<int64_t, 4> points;
};
DiagonalPlan buildDiagonalPlan(KernelOp kernel);

/// Buffers and sizes a stage reads (index values; memrefs of i32 / i64).
struct PlanBuilderEnv {
  KernelOp kernel;  // the expanded kernel
  mlir::Value mask; // its mask
  int64_t blockM = 0, blockN = 0;
  mlir::Value lq, lk, batch, heads, numClasses, classHeads;
  mlir::Value numQueryTiles, numKeyTiles;
  /// Pieces of abi::kRunChunk KV tiles per row (count and write items).
  mlir::Value numPieces;
  /// status: i32, numClasses * numQueryTiles * numKeyTiles.
  /// work:   i64, 1 + the same; work[0] counts the undecided tiles listed
  ///         after it (0 before classify).
  /// counts: i64, numClasses * numQueryTiles row totals (classify zeroes
  ///         them, count adds to them), then numPieces counts per row.
  /// offsets, segments: the plan buffers (numClasses * (numQueryTiles + 1);
  ///         rows of 7, at most numClasses * numQueryTiles * numKeyTiles)
  ///         and classIndex (batch * heads), which the scan stage writes.
  /// summaries: i64, a (min, max) pair per kSummaryChunk entries of every
  /// table's flattened buffer, tables in declaration order.
  mlir::Value status, work, counts, offsets, segments, classIndex, summaries;
  llvm::StringMap<TableBinding> tables;
  /// Per table: its entries; per summarized table, the index of its first
  /// summary chunk (a table read only a few entries per tile row is read
  /// entry by entry: its chunks are left unwritten); and the summary chunks
  /// of all tables.
  llvm::StringMap<mlir::Value> tableEntries, summaryFirst;
  mlir::Value summaryChunks;
  /// Column lists (listKeys > 0): keys per query tile's list, the column
  /// term, the rows of the segment buffer each class owns (T * (N + 1): a
  /// query tile's runs and its list), where the column bounds start in
  /// `counts` (C * T, after the pieces' counts; zero before classify) and
  /// the flat index of the first list key in `segments` (after every
  /// class's rows; query tile (c, m) owns listKeys of them).
  int64_t listKeys = 0;
  ColumnPlan columns;
  mlir::Value classRows, columnBounds, listKeyBase;
  /// Where `counts` holds the number of column keys of every (class, KV
  /// tile) (C * N, after the listed keys' counts), then the keys as bit
  /// words (C * N * columnWords), both written by summarize.
  mlir::Value tileColumns, tileColumnWords;
  /// Query units of the column term (ceil(Lk / U); 1 without a unit): the
  /// counts and words are per (class, unit, KV tile).
  mlir::Value numUnits;
  /// Lattice gathers (LatticeGathers.cpp): the term and its copies; no
  /// restMask without them.
  LatticePlan lattice;
  bool latticeGathers() const { return static_cast<bool>(lattice.restMask); }
  /// Diagonal bands (DiagonalBands.cpp): the term's rest; no restMask
  /// without them.
  DiagonalPlan diagonals;
  bool diagonalBands() const { return static_cast<bool>(diagonals.restMask); }
  /// The mask tiles are decided on: the rest with lists, lattice gathers
  /// or diagonal bands, else the mask.
  mlir::Value decisionMask() const {
    return listKeys            ? columns.restMask
           : latticeGathers()  ? lattice.restMask
           : diagonalBands()   ? diagonals.restMask
                               : mask;
  }
};

/// The lattice of class (batch, head): start s in [0, 2P), period P, width
/// W in [0, P] (index values), and whether the term's own arithmetic is
/// exact for it (`valid`, an i1: the shift within +-kLatticeShiftLimit, so
/// that k - shift cannot wrap for any key, even in a GPU's 32-bit index;
/// the tiles of a class without it are visited as PARTIAL Range tiles).
struct LatticeParams {
  mlir::Value start, period, width, valid;
};
constexpr int64_t kLatticeShiftLimit = int64_t(1) << 30;
LatticeParams emitLatticeParams(mlir::OpBuilder &b, mlir::Location loc,
                                const PlanBuilderEnv &env, mlir::Value batch, mlir::Value head);
/// The lattice keys in [lo, hi) (lo <= hi), and the position of the j-th
/// lattice key at or after lo (0-based; docs/KERNEL_ABI.md's formula).
mlir::Value emitLatticeKeys(mlir::OpBuilder &b, mlir::Location loc, const LatticeParams &l,
                            mlir::Value lo, mlir::Value hi);
mlir::Value emitLatticeKeyAt(mlir::OpBuilder &b, mlir::Location loc, const LatticeParams &l,
                             mlir::Value lo, mlir::Value j);
/// Classify's lattice bits (kLatticeMay, kLatticeFull, kLatticeNone; an
/// i32) of the tile of `tenv` (keys [tenv.kLo, tenv.kHi]) whose status for
/// the rest is `status`: 0 unless the rest skips the tile or leaves it
/// undecided.
mlir::FailureOr<mlir::Value> emitLatticeBits(mlir::OpBuilder &b, mlir::Location loc,
                                             const PlanBuilderEnv &env,
                                             const TileMaskEnv &tenv, mlir::Value status);

/// With column lists, classify's column bits (an i32) of KV tile `n` of
/// class `c` and query tile `m` (of `tenv`): the number of its column keys
/// shifted to kColumnShift, with kColumnsMasked, where the rest of the mask
/// (its `status`) skips the tile or leaves it undecided and the whole mask
/// may keep a pair of it, added to the query tile's column bound; 0 for
/// other tiles; kWholeFull for such a tile that the whole mask keeps
/// entirely.
mlir::FailureOr<mlir::Value> emitColumnBits(mlir::OpBuilder &b, mlir::Location loc,
                                            const PlanBuilderEnv &env, mlir::Value c,
                                            mlir::Value m, mlir::Value n,
                                            const TileMaskEnv &tenv, mlir::Value status);

/// Classify's band bit (kBandMay, an i32) of the tile of `tenv` whose
/// status for the rest is `status`: 0 unless the rest skips the tile or
/// leaves it undecided and the whole mask may keep a pair of it;
/// kWholeFull for such a tile that the whole mask keeps entirely,
/// kResolveWhole for one the rest surely skips and the whole mask's bounds
/// leave open (no pair surely kept).
mlir::FailureOr<mlir::Value> emitBandBits(mlir::OpBuilder &b, mlir::Location loc,
                                          const PlanBuilderEnv &env,
                                          const TileMaskEnv &tenv, mlir::Value status);

/// Whether key `k` is a column of (batch, head) for query unit `unit` (an
/// i1; any value when the term has no unit).
mlir::Value emitColumnAt(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                         mlir::Value batch, mlir::Value head, mlir::Value unit, mlir::Value k);
/// The columns among keys [lo, min(lo + kColumnWordKeys, end)) as an i64
/// bit word (bit j: key lo + j).
mlir::Value emitColumnWord(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                           mlir::Value batch, mlir::Value head, mlir::Value unit,
                           mlir::Value lo, mlir::Value end);
using abi::kColumnWordKeys;
/// The (class, query unit, KV tile) items of the column counts, the query
/// unit of absolute query position `q` (0 without units), and the index of
/// (c, unit, n) among the items.
mlir::Value columnTiles(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env);
mlir::Value columnUnit(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                       mlir::Value q);
mlir::Value columnTileIndex(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                            mlir::Value c, mlir::Value unit, mlir::Value n);
/// Summarize's column work for `item`, when it is below columnTiles: the
/// column count and bit words of (class, query unit, KV tile) `item`.
void emitColumnSummaries(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                         mlir::Value item);
/// Bit words per KV tile.
inline int64_t columnWords(const PlanBuilderEnv &env) {
  return abi::columnWords(env.blockN);
}

/// The environment of a stage of `kernel` (expanded) for tiles bm x bn,
/// from the stage parameters: `scalars` lq, lk, batch, numClasses,
/// classHeads (i64), `buffers` status, work, counts, offsets, segments,
/// classIndex, summaries (memrefs), `tables` one i64 memref per table in
/// declaration order. `planGathers`: the kernel reads Gather and List
/// segments (column lists or lattice gathers where the mask has a term).
/// Tile counts are computed too.
PlanBuilderEnv bindPlanParams(mlir::OpBuilder &b, mlir::Location loc,
                              KernelOp kernel, int64_t bm, int64_t bn,
                              bool planGathers, mlir::ValueRange scalars,
                              mlir::ValueRange buffers, mlir::ValueRange tables);

/// The number of items of `stage`, an i64 (resolve: the undecided tiles
/// of the work list times block_m rows, which may pass 2^31 where index
/// values are 32-bit).
mlir::Value emitStageItems(mlir::OpBuilder &b, mlir::Location loc, Stage stage,
                           const PlanBuilderEnv &env);

/// Emits the work of `item` (an i64 below emitStageItems) of `stage`.
mlir::LogicalResult emitStageItem(mlir::OpBuilder &b, mlir::Location loc,
                                  Stage stage, const PlanBuilderEnv &env,
                                  mlir::Value item);

} // namespace sattn::deviceplan

#endif // SATTN_CONVERSION_DEVICEPLAN_H
