/*
 * kiln float reference: the Llama model in fp32, host only.
 *
 * The decoder layer is not written out here: it is the layer graph of
 * gen/graph/llama_layer.lua, compiled by gen/graph/program.lua into a
 * kiln_program and executed node by node by kiln_graph_run(). Every node
 * writes its result; nodes that carry an observer can record the range of
 * that result (calibration). The model driver (embedding, layers, final norm,
 * classifier, KV cache, RoPE tables, masks) is in model.c.
 *
 * Matrix products are kiln_matmul's (matmul.h), and exp, sin and cos
 * kiln_math.h's: one fixed order of IEEE 754 operations, so calibration gives
 * the same bits on every host.
 */
#ifndef KILN_FLOAT_H
#define KILN_FLOAT_H

#include "dtype.h"

#include <stddef.h>
#include <stdint.h>

/* Symbolic dims of the graph (gen/graph/llama_layer.lua). */
enum kiln_dim {
  KILN_DIM_S,  /* query tokens */
  KILN_DIM_P,  /* past tokens */
  KILN_DIM_K,  /* keys = P + S */
  KILN_DIM_D,  /* hidden */
  KILN_DIM_H,  /* heads */
  KILN_DIM_HK, /* kv heads */
  KILN_DIM_HD, /* head_dim */
  KILN_DIM_HD2, /* head_dim / 2 */
  KILN_DIM_I,  /* intermediate */
  KILN_DIM_V,  /* vocabulary */
  KILN_DIM_COUNT
};

enum kiln_op {
  KILN_OP_QUANT,
  KILN_OP_RMSNORM,
  KILN_OP_LINEAR,
  KILN_OP_TAKE_HALF,
  KILN_OP_CONCAT_HALVES,
  KILN_OP_MUL_ROWS,
  KILN_OP_ADD,
  KILN_OP_MUL,
  KILN_OP_SIGMOID,
  KILN_OP_CACHE_CAT,
  KILN_OP_QK,
  KILN_OP_ADD_MASK,
  KILN_OP_SOFTMAX,
  KILN_OP_PV,
  KILN_OP_HEADS_FIRST,
  KILN_OP_COUNT
};

enum kiln_slot_kind { KILN_SLOT_INPUT, KILN_SLOT_PARAM, KILN_SLOT_TEMP };

#define KILN_MAX_RANK 4
#define KILN_MAX_FACTORS 2

typedef struct {
  int kind;                                        /* enum kiln_slot_kind */
  int rank;
  int factors[KILN_MAX_RANK][KILN_MAX_FACTORS];    /* dim codes, -1 = none */
} kiln_slot_decl;

typedef struct {
  int op;       /* enum kiln_op */
  int out;      /* slot */
  int in[2];    /* slots, -1 = unused */
  int obs;      /* observer index, -1 = no observer */
  int arg;      /* op argument: HALF: 1 or 2 */
} kiln_node;

/* Graph inputs and outputs the model driver binds by role (-1: the graph
 * has no such port; the head graph has only X and Y). */
enum kiln_port {
  KILN_IN_X, KILN_IN_MASK, KILN_IN_COS, KILN_IN_SIN, KILN_IN_PAST_K, KILN_IN_PAST_V,
  KILN_OUT_Y, KILN_OUT_NEW_K, KILN_OUT_NEW_V,
  KILN_PORT_COUNT
};

typedef struct {
  int n_slots, n_nodes, n_obs, n_params;
  kiln_slot_decl *slots;
  kiln_node *nodes;
  int *param_slots;            /* slot of each param, in graph param order */
  int ports[KILN_PORT_COUNT];  /* slot of each input/output role */
} kiln_program;

/* RoPE's base and the scaling of transformers' rope_type (gen/model/rope.lua). */
enum kiln_rope_type { KILN_ROPE_DEFAULT, KILN_ROPE_LINEAR, KILN_ROPE_LLAMA3 };
typedef struct {
  float theta;
  enum kiln_rope_type type;
  float factor;                                   /* linear, llama3 */
  float low_freq_factor, high_freq_factor, original_max_position; /* llama3 */
} kiln_rope;

typedef struct {
  int D, H, Hk, hd, inter, vocab, n_layers, max_seq;
  float rms_eps;
  kiln_rope rope;
} kiln_model_dims;

/* TICO's fake quantization at one observer (tico-semantics.md §2.4), per
 * tensor. Weights are fake-quantized once, before they reach the graph. */
typedef struct {
  int active; /* 0: float pass-through (weight observers, or no qparams) */
  float scale;
  int zero_point, qmin, qmax;
} kiln_fq;

/* The percentile observer's bounded sample of one observer (reservoir.c). */
typedef struct {
  float *values;
  uint32_t *priority; /* a min-heap: the lowest priority kept is at 0 */
  size_t n, cap, per_batch;
  uint64_t rng;
  long calls;         /* observer calls so far: moves the sampling grid */
  float min, max;     /* the exact range of every value offered */
} kiln_reservoir;

int kiln_reservoir_init(kiln_reservoir *r, size_t max_samples, size_t samples_per_batch, uint64_t seed);
void kiln_reservoir_free(kiln_reservoir *r);
/* One observer call's tensor x[0..n). */
void kiln_reservoir_offer(kiln_reservoir *r, const float *x, size_t n);
/* TICO's clipping bounds for a central mass of percentile % (of |x| when
 * symmetric), widened to include 0. Returns 0, -1 when nothing was offered,
 * -2 when out of memory. */
int kiln_reservoir_bounds(const kiln_reservoir *r, double percentile, int symmetric, float *lo, float *hi);

/* What a graph run does at observer nodes. */
typedef struct {
  float *min, *max; /* widen these ranges (per observer), or NULL */
  const kiln_fq *fq; /* fake-quantize with these (per observer), or NULL */
  kiln_reservoir *sample; /* offer each result to these (per observer), or NULL */
} kiln_observe;

/* Working memory of one graph execution, in float or double (elem bytes). */
typedef struct {
  const kiln_program *prog;
  const kiln_model_dims *dims;
  size_t elem;    /* sizeof(float) or sizeof(double) */
  void **data;    /* per slot: where its tensor is now (bound, owned or aliased) */
  void **buf;     /* per TEMP slot: the buffer it owns */
  size_t *cap;    /* capacity of buf, elements */
  size_t *numel;  /* current element count per slot */
  int (*shape)[KILN_MAX_RANK]; /* evaluated dims per slot */
  enum kiln_dtype *dtype; /* float32 graph: how each slot's data is stored (params may be fp16, bf16) */
  int openblas;   /* float32 only: products through OpenBLAS's sgemm (not reproducible across hosts) */
} kiln_graph_state;

int kiln_graph_init(kiln_graph_state *st, const kiln_program *prog, const kiln_model_dims *dims, size_t elem);
void kiln_graph_free(kiln_graph_state *st);

/* Runs a graph for S query tokens after P past tokens. Inputs are bound in
 * st->data at the input slots, params at the param slots. At each activation
 * observer, `obs` may widen a range and/or fake-quantize the result (weight
 * observers are skipped: weights are observed and quantized once, from the
 * weights). Returns 0, or -1 if a tensor would exceed its capacity. */
int kiln_graph_run(kiln_graph_state *st, int S, int P, const kiln_observe *obs);
/* The same in double (elem = sizeof(double)); obs->min/max must be NULL. */
int kiln_graph_run_f64(kiln_graph_state *st, int S, int P, const kiln_observe *obs);
/* Evaluates every slot's shape for S and P and binds the owned buffers. */
int kiln_graph_bind_shapes(kiln_graph_state *st, int S, int P);

/* y = FQ(x) for n values (y may be x). */
void kiln_fake_quant(float *y, const float *x, size_t n, const kiln_fq *q);

/* One weight as the checkpoint stores it: its values and their dtype. */
typedef struct {
  const void *data;
  enum kiln_dtype dtype;
} kiln_weights;

/* The whole model: embedding, n_layers runs of the layer graph, one run of
 * the head graph (final norm, classifier). Weights stay in their stored
 * dtype; the products convert them as they pack them (matmul.h). */
typedef struct {
  kiln_model_dims dims;
  const kiln_program *prog;      /* the decoder layer */
  const kiln_program *head_prog; /* final norm + classifier */
  kiln_weights embedding;          /* [vocab][D] */
  const kiln_weights *params;      /* [n_layers][prog->n_params] */
  const kiln_weights *head_params; /* [head_prog->n_params] */

  kiln_graph_state graph, head;
  kiln_graph_state graph64;  /* the layer graph in double (exact reference), made on first use */
  double *params64;          /* the layer params in double, [n_layers][all params], made on first use */
  size_t *param64_at;        /* offset of each [layer][param] in params64 */
  double *mask64, *rope64;   /* scratch of the double runs */
  /* if not NULL, each layer param's per-row scale [n_layers][n_params][rows]
   * (weights given fake-quantized): the double copies are snapped to the
   * exact grid values (q - zp) * scale instead of their float32 roundings */
  const float *const *param_scales;
  const int *param_rows;
  float *cache_k, *cache_v; /* [n_layers][Hk][max_seq][hd]: each layer's new_k/new_v */
  float *past_k, *past_v;   /* [Hk][P][hd], contiguous past handed to the graph */
  float *cos_table, *sin_table; /* [max_seq][hd], sin pre-negated in the first half */
  float *x, *mask;          /* [max_seq][D], [max_seq][max_seq] */
  float *logits;            /* [max_seq][vocab] */
  /* observer ranges (NULL when not observing): layers [n_layers][n_obs], head [n_obs] */
  float *range_min, *range_max, *head_min, *head_max;
  /* TICO's other statistics, beside the exact ranges (NULL when not asked):
   * EMA's running ranges and those of the forward in progress, laid out as
   * one block of layers then head; for percentile, a reservoir per observer
   * of that block (unused ones have cap 0) */
  double ema_momentum;
  float *ema_min, *ema_max, *batch_min, *batch_max;
  kiln_reservoir *reservoirs;
  /* fake quantization (NULL: float): layers [n_layers][n_obs], head [n_obs] */
  const kiln_fq *fq, *head_fq;
  /* the model level in TICO's QUANT mode (graph/llama_model.lua): the
   * looked-up embedding rows, and the mask's two values as every layer is
   * handed them (0 and -120 in float); see kiln_model_input_fq */
  kiln_fq embed_fq;
  float mask_zero, mask_fill;
  /* if not NULL, forward() copies each layer's input and the last layer's
   * output here: [n_layers + 1][S][D] */
  float *capture;
} kiln_float_model;

int kiln_model_init(kiln_float_model *m);
void kiln_model_free(kiln_float_model *m);
/* Starts (resetting the ranges to +inf/-inf) or stops recording ranges. */
int kiln_model_observe(kiln_float_model *m, int on);
/* Starts recording the exact ranges and, as asked, TICO's other statistics
 * (tico-semantics.md §2.2): EMA ranges (each forward's range folded into the
 * running one; the first forward initialises it) and, for the observers
 * whose sample[] is set (layers then head), a percentile reservoir.
 * Returns 0 or -1 (out of memory). */
typedef struct {
  int ema;
  double momentum; /* TICO's Python float: 1 - momentum is taken in double */
  const unsigned char *sample; /* per observer, or NULL: none */
  size_t max_samples, per_batch;
  uint64_t seed;
} kiln_statistic_spec;
int kiln_model_observe_with(kiln_float_model *m, const kiln_statistic_spec *s);

/* Runs tokens[0..S) at positions pos..pos+S-1 (the cache must hold pos
 * earlier tokens). Runs the head on every row if all_rows, else on the last
 * row only; logits at m->logits. Returns 0, or -1 on a bad length. */
int kiln_model_forward(kiln_float_model *m, const int *tokens, int S, int pos, int all_rows);

/* Runs decoder layer l alone: x [S][D] at positions pos..pos+S-1 after the
 * past [Hk][pos][hd] (K and V); writes y [S][D] and new_k, new_v [Hk][S][hd].
 * Observers and fake quantization apply as in forward(). Returns 0 or -1. */
int kiln_model_run_layer(kiln_float_model *m, int l, const float *x, int S, int pos, const float *past_k,
                         const float *past_v, float *y, float *new_k, float *new_v);

/* The same in double with exact fake quantization (see graph_f64.c): x, past
 * and results in double. */
int kiln_model_run_layer_f64(kiln_float_model *m, int l, const double *x, int S, int pos, const double *past_k,
                             const double *past_v, double *y, double *new_k, double *new_v);

/* Fake-quantizes what the model hands its layers, as TICO's model-level
 * observers do: the embedding rows on embed, the mask on mask, the RoPE
 * tables on cos and sin (each may be NULL: left in float). The tables are
 * fake-quantized in place, so a model takes this once. */
void kiln_model_input_fq(kiln_float_model *m, const kiln_fq *embed, const kiln_fq *mask, const kiln_fq *cos,
                         const kiln_fq *sin);

/* Fills the RoPE tables: TICO's float32 formula, sin pre-negated. */
void kiln_rope_tables(float *cos_table, float *sin_table, int max_seq, int hd, const kiln_rope *rope);

/* Sampling exactly as llama2.c run.c. */
int kiln_argmax(const float *x, int n);
int kiln_sample(float *logits, int n, float temperature, float topp, float coin);
float kiln_random_f32(uint64_t *state);

#endif
