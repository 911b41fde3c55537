// The instruction set of a compiled Program: private to core/interpreter.cc and its tests.
#ifndef ASTCD_CORE_INTERPRETER_IMPL_H_
#define ASTCD_CORE_INTERPRETER_IMPL_H_

#include <cstdint>

#include "core/grammar.h"

namespace astcd {
namespace interpreter_internal {
// Expressions compile to postfix code over a value stack; statements to jumps.
// clang-format off
enum class Op : uint8_t {
  // One opcode per node kind, in the grammar's order, so that the operation a row names in its
  // operator column is its opcode (Opcode() below); kinds no row names are never emitted.
  // Binary operators pop b, pop a and push the result: arithmetic an int, comparisons a bool,
  // min/max the operand Python's min/max returns. Unary ones work in place. kConst (imm: the
  // constant; overflow if outside value_range), kReturn (pops the value) and kReturnNone
  // (var == 1: an explicit `return`, traced; 0: falling off the end) are the leaves' own.
#define ASTCD_OPCODE(name, ...) name,
  ASTCD_GRAMMAR(ASTCD_OPCODE)
#undef ASTCD_OPCODE
  kStep,   // imm: line. Counts a step and opens a trace event.
  kLoad,   // var. invalid_program if unbound.
  kStore,  // var: pops
  kJump,                // arg: target
  kPopJumpIfFalse,      // arg: target
  kJumpIfFalseElsePop,  // `and`: keep the operand and jump if falsy, else pop it
  kJumpIfTrueElsePop,   // `or`: keep the operand and jump if truthy, else pop it
  kForInit,             // loop: pops stop (and start, if var == 1; else start is 0)
  kForIter,             // loop, var: target; arg: exit; imm: line. A step per iteration.
};
constexpr Op Opcode(NodeKind kind) { return static_cast<Op>(kind); }
// clang-format on

struct Instr {
  Op op;
  uint8_t var = 0;
  uint16_t loop = 0;
  int32_t arg = 0;
  int64_t imm = 0;
};
}  // namespace interpreter_internal
}  // namespace astcd

#endif  // ASTCD_CORE_INTERPRETER_IMPL_H_
