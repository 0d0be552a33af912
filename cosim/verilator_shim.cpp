// C interface to a Verilated byte-stream top (hw.host.HostInterface), for ctypes.
//
// The top has a clock `clk`, a reset `rst`, a request stream `i__payload/i__valid/i__ready` and a
// reply stream `o__payload/o__valid/o__ready`. Bytes written by the host wait in a queue and are
// offered one per cycle, held until accepted; replies are always accepted and queued. Nothing
// here knows the protocol: it is the Verilated twin of hw/testing.py's stream feeder/collector.
//
// LOCO_TOP is the Verilated class name (V<top>), LOCO_TOP_HEADER its header; both come from the
// build command line. Verilator escapes the second underscore of Amaranth's `i__valid` style
// port names, hence `i___05Fvalid`.

#include <cstddef>
#include <cstdint>
#include <deque>

#include "verilated.h"
#include LOCO_TOP_HEADER

namespace {

struct Model {
    VerilatedContext context;
    LOCO_TOP *top;
    std::deque<uint8_t> to_dut;
    std::deque<uint8_t> from_dut;
    uint64_t cycles = 0;

    // rand_reset: 0 = uninitialised state and X bits are zeros, 2 = random bits from `seed`.
    Model(int rand_reset, int seed) {
        context.randReset(rand_reset);
        context.randSeed(seed);
        top = new LOCO_TOP(&context, "top");
    }
    ~Model() {
        top->final();
        delete top;
    }

    // One rising clock edge, with the streams served as the Amaranth testbenches serve them.
    void cycle() {
        top->clk = 0;
        top->i___05Fvalid = !to_dut.empty();
        top->i___05Fpayload = to_dut.empty() ? 0 : to_dut.front();
        top->o___05Fready = 1;
        top->eval();
        const bool accepted = top->i___05Fvalid && top->i___05Fready;
        const bool replied = top->o___05Fvalid;
        const uint8_t reply = top->o___05Fpayload;
        top->clk = 1;
        top->eval();
        if (accepted) to_dut.pop_front();
        if (replied) from_dut.push_back(reply);
        ++cycles;
    }
};

}  // namespace

extern "C" {

void *loco_new(int rand_reset, int seed) {
    Model *model = new Model(rand_reset, seed);
    model->top->rst = 1;
    model->cycle();
    model->top->rst = 0;
    model->cycles = 0;
    return model;
}

void loco_free(void *handle) { delete static_cast<Model *>(handle); }

void loco_write(void *handle, const uint8_t *data, size_t count) {
    Model *model = static_cast<Model *>(handle);
    model->to_dut.insert(model->to_dut.end(), data, data + count);
}

// Runs until `count` reply bytes are queued or `max_cycles` cycles have passed; returns the
// number of reply bytes queued.
size_t loco_run(void *handle, size_t count, uint64_t max_cycles) {
    Model *model = static_cast<Model *>(handle);
    for (uint64_t k = 0; k < max_cycles && model->from_dut.size() < count; ++k) model->cycle();
    return model->from_dut.size();
}

// Moves up to `count` queued reply bytes into `out`; returns how many.
size_t loco_read(void *handle, uint8_t *out, size_t count) {
    Model *model = static_cast<Model *>(handle);
    size_t n = 0;
    for (; n < count && !model->from_dut.empty(); ++n) {
        out[n] = model->from_dut.front();
        model->from_dut.pop_front();
    }
    return n;
}

size_t loco_pending(void *handle) { return static_cast<Model *>(handle)->to_dut.size(); }

uint64_t loco_cycles(void *handle) { return static_cast<Model *>(handle)->cycles; }

}  // extern "C"
