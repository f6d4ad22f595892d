/*
 * insn_marks: a QEMU TCG plugin that counts the instructions each emulated CPU executes
 * between two guest markers. A marker is `hint #0x7f` (encoding 0xd5032fff), an unallocated
 * hint: every CPU executes it as a NOP, at any exception level. The markers
 * on one CPU pair up, the first of a pair starting a sample and the second ending it, and
 * every sample is printed as it ends:
 *
 *     insn_marks: cpu=N insns=K
 *
 * where K is what CPU N executed from the starting marker (included) to the ending one
 * (excluded): the guest's own instructions and everything that CPU ran for it meanwhile at
 * any exception level. Other CPUs' instructions do not count, however QEMU interleaves them.
 *
 * With arguments `trace=K` (up to 8 of them), the plugin also prints the address of every
 * instruction of each CPU's K-th sample (counted from 0, untimed rounds included), in the order executed:
 *
 *     insn_marks: cpu=N trace pc=0x...
 *
 * which, matched against the hypervisor's symbols, says where a trap's instructions go
 * (docs/bench.md, "Where a trap's instructions go").
 *
 * With the argument `total=on`, markers do not pair up: at every marker the plugin prints what
 * all CPUs together executed from reset up to it (the marker excluded),
 *
 *     insn_marks: cpu=N total=K
 *
 * for a moment of a whole boot, such as a Linux init's first instruction (docs/bench.md).
 *
 * With `window=K` (up to 8, beside or instead of trace=), every CPU's instructions are printed
 * the same way from the moment a CPU starts its K-th sample until that CPU ends it: what the
 * other CPUs ran meanwhile too, for an operation that crosses CPUs (an event-channel round
 * trip: the `evtchn` guest's ping marks each one).
 *
 * Output goes through qemu_plugin_outs, which QEMU prints only with `-d plugin` (to the
 * file `-D` names). Debian ships no qemu-plugin.h, so the few types and functions used are
 * declared here as QEMU's plugin API (version 2 and later) defines them; `cargo xtask bench`
 * builds this file with `gcc -shared -fPIC`. See docs/bench.md.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin API used, as QEMU's include/qemu/qemu-plugin.h declares it (API version 2+). */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed on, never read */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t index);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_outs(const char *string);

/* The API version this plugin was written against; QEMU refuses to load it if unsupported. */
__attribute__((visibility("default"))) int qemu_plugin_version = 2;

/* `hint #0x7f`: HINT is 0xd503201f | CRm:op2 << 5 (Arm ARM, A64 HINT instruction). */
#define MARKER 0xd5032fffu

/* The CPUs counted; a CPU beyond them is ignored (QEMU virt has at most 512, we boot 3). */
#define MAX_CPUS 64

/* Per CPU: the instructions it executed so far, and where its open sample started. Each CPU
 * touches only its own entry, so CPUs that QEMU runs in parallel threads do not race. */
struct cpu_state {
    uint64_t executed;
    uint64_t started;
    bool open;
    /* Samples this CPU completed so far. */
    uint64_t samples;
};

static struct cpu_state cpus[MAX_CPUS];

/* The samples whose instruction addresses are printed (`trace=K`, up to MAX_TRACED). */
#define MAX_TRACED 8
static uint64_t traced[MAX_TRACED];
static int tracing;
/* The samples during which every CPU is traced (`window=K`), and whether one is open. */
static uint64_t windows[MAX_TRACED];
static int windowing;
static bool window_open;

static bool is_window(uint64_t sample)
{
    for (int i = 0; i < windowing; i++) {
        if (windows[i] == sample) {
            return true;
        }
    }
    return false;
}

/* `total=on`: every marker prints the instructions of all CPUs so far instead of pairing up. */
static bool totals;

static bool is_traced(uint64_t sample)
{
    for (int i = 0; i < tracing; i++) {
        if (traced[i] == sample) {
            return true;
        }
    }
    return false;
}

/*
 * Every instruction calls this before it executes. QEMU's inline per-CPU counters
 * (scoreboards) would be faster, but with them QEMU 10.0.2 crashed in generated code under
 * -icount as soon as a second CPU started.
 */
static void on_instruction(unsigned int index, void *userdata)
{
    (void)userdata;
    if (index < MAX_CPUS) {
        cpus[index].executed++;
    }
}

/* As on_instruction, and prints the instruction's address if it belongs to the traced sample;
 * `userdata` is the address. Registered instead of on_instruction when tracing. */
static void on_traced_instruction(unsigned int index, void *userdata)
{
    if (index >= MAX_CPUS) {
        return;
    }
    struct cpu_state *state = &cpus[index];
    state->executed++;
    if ((state->open && is_traced(state->samples)) || window_open) {
        char line[80];
        snprintf(line, sizeof line, "insn_marks: cpu=%u trace pc=0x%llx\n", index,
                 (unsigned long long)(uintptr_t)userdata);
        qemu_plugin_outs(line);
    }
}

static void on_marker(unsigned int index, void *userdata)
{
    (void)userdata;
    if (index >= MAX_CPUS) {
        return;
    }
    struct cpu_state *state = &cpus[index];
    if (totals) {
        uint64_t total = 0;
        for (int i = 0; i < MAX_CPUS; i++) {
            total += cpus[i].executed;
        }
        char line[64];
        snprintf(line, sizeof line, "insn_marks: cpu=%u total=%llu\n", index, (unsigned long long)total);
        qemu_plugin_outs(line);
        return;
    }
    if (!state->open) {
        state->started = state->executed;
        state->open = true;
        if (is_window(state->samples)) {
            window_open = true;
        }
        return;
    }
    if (is_window(state->samples)) {
        window_open = false;
    }
    state->open = false;
    state->samples++;
    char line[64];
    snprintf(line, sizeof line, "insn_marks: cpu=%u insns=%llu\n", index,
             (unsigned long long)(state->executed - state->started));
    qemu_plugin_outs(line);
}

static void on_translation(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t count = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < count; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint8_t bytes[4];
        /* A64 instructions are little-endian whatever the data endianness. */
        bool marker = qemu_plugin_insn_data(insn, bytes, sizeof bytes) == sizeof bytes &&
                      ((uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
                       (uint32_t)bytes[3] << 24) == MARKER;
        /* The marker's callback is registered first, so it runs before the count grows. */
        if (marker) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (tracing || windowing) {
            void *address = (void *)(uintptr_t)qemu_plugin_insn_vaddr(insn);
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_traced_instruction, QEMU_PLUGIN_CB_NO_REGS, address);
        } else {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_instruction, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "total=on") == 0) {
            totals = true;
            continue;
        }
        if (strncmp(argv[i], "trace=", 6) == 0 && argv[i][6] != '\0' && tracing < MAX_TRACED) {
            traced[tracing] = strtoull(argv[i] + 6, &end, 10);
            if (end != NULL && *end == '\0') {
                tracing++;
                continue;
            }
        }
        if (strncmp(argv[i], "window=", 7) == 0 && argv[i][7] != '\0' && windowing < MAX_TRACED) {
            windows[windowing] = strtoull(argv[i] + 7, &end, 10);
            if (end != NULL && *end == '\0') {
                windowing++;
                continue;
            }
        }
        fprintf(stderr,
                "insn_marks: argument \"%s\" not understood; the arguments are trace=K, window=K (K a sample "
                "number, at most %d of each) and total=on\n",
                argv[i], MAX_TRACED);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translation);
    return 0;
}
