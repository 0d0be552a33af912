"""Block benches written once; Amaranth's simulator and cocotb (Icarus) run the same code.

A bench is an ``async`` function of a *bench adapter* (:class:`cosim.amaranth_benches.AmaranthBench`
or :class:`cosim.tb_blocks.CocotbBench`) and its vectors (:mod:`cosim.vectors`). It compares
every output word and raises ``AssertionError`` naming the step and the word. Ports are named by
their path in the component's signature, ``"weights.waddr"``. The adapter's verbs:

``set(name, value)``                      drive an input (an ``int`` or an enum member)
``get(name, signed=False) -> int``        an output's value (two's complement when ``signed``)
``await tick()``                          one clock edge; inputs and outputs are settled after it
``await wait_while(name)``                edges until ``name`` is 0
``await write_port(addr, data, we, words)``  ``words`` at addresses 0, 1, ... one a cycle
``await read_port(addr, data, count, signed=False, latency=1)``  data ``latency`` cycles
                                          after its address
``await stream_put(name, payload)``       valid/ready, after a random number of idle cycles
``await stream_get(name) -> int``         ready with random stalls (back-pressure)
``serve_memory(name, words)``             a synchronous memory on a weight port, in place on
                                          ``words`` (read data one cycle after the address)

The idle and stall pattern comes from the adapter's seeded ``random.Random``: a run repeats.
"""

from hw.learner import Command
from hw.neuron import LIFCore
from hw.protocol import ACK, NAK, Error, Opcode, encode, identity_bytes, word_bytes

__all__ = ["BenchVerbs", "lif_bench", "projector_bench", "noise_bench", "learner_bench",
           "host_bench"]

# A stream word is offered after 0 idle cycles half the time, else after 1-3; a reply byte is
# refused (ready low) for 0 cycles half the time, else for 1-3.
PAUSES = (0, 0, 0, 1, 2, 3)


class BenchVerbs:
    """The verbs an adapter builds on its ``set``, ``get`` and ``tick``; ``pauses`` false: no
    idle cycles before stream words (a bench that counts cycles to a formula)."""

    pauses = True

    async def wait_while(self, name) -> int:
        ticks = 0
        while self.get(name):
            await self.tick()
            ticks += 1
        return ticks

    async def write_port(self, addr, data, we, words):
        self.set(we, 1)
        for address, word in enumerate(words):
            self.set(addr, address)
            self.set(data, word)
            await self.tick()
        self.set(we, 0)

    async def read_port(self, addr, data, count, signed=False, latency=1) -> list:
        """Words ``0 .. count - 1`` of a synchronous read port, each ``latency`` cycles after
        its address."""
        words = []
        for address in range(count):
            self.set(addr, address)
            for _ in range(latency):
                await self.tick()
            words.append(self.get(data, signed))
        return words

    async def idle(self):
        """A random number of cycles (:data:`PAUSES`) before a stream word is offered."""
        for _ in range(self.rng.choice(PAUSES) if self.pauses else 0):
            await self.tick()


async def lif_bench(bench, config, layer, vectors, *, listed=False, appends=1):
    """A two-pass :class:`hw.neuron.LIFCore` (built with zero weights): load
    ``vectors["init"]`` through the update port, run every step; every pass's spikes every step,
    its membranes and spike counts at the end of every run. ``listed``: the core takes its
    inputs as a list (``listed_inputs``; the vectors' passes must share their spikes), the next
    step's appended in a random order while the core runs; otherwise the spike vector changes
    to the next step's while the core runs (it must have sampled it at start); ``appends``
    above 1: one to ``appends`` inputs appended a cycle, at random, in random slots. Returns the
    cycles the steps took."""
    n, m = config.sizes[layer], config.sizes[layer + 1]
    await bench.write_port("weights.waddr", "weights.wdata", "weights.we", vectors["init"])
    steps = vectors["steps"]

    def inputs(step):
        if listed:
            assert steps[step]["spikes_in"][0] == steps[step]["spikes_in"][1], \
                "a listed core's passes share their inputs"
        return steps[step]["spikes_in"][0] | steps[step]["spikes_in"][1] << n

    if listed:
        await _append_spikes(bench, steps[0]["spikes_in"][0], n, appends)
    cycles = 0
    for step, vec in enumerate(steps):
        if not listed:
            bench.set("spikes_in", inputs(step))
        for port in ("negative", "invert", "perturb", "first", "both"):
            bench.set(port, vec[port])
        bench.set("start", 1)
        await bench.tick()
        bench.set("start", 0)
        cycles += 1
        if step + 1 < len(steps):           # the next step's inputs, while this one runs
            if listed:
                cycles += await _append_spikes(bench, inputs(step + 1) & (1 << n) - 1, n,
                                               appends)
            else:
                bench.set("spikes_in", inputs(step + 1))
        cycles += await bench.wait_while("busy")
        spikes = bench.get("spikes_out")
        for p, want in enumerate(vec["spikes_out"]):
            got = spikes >> p * m & (1 << m) - 1
            assert want is None or got == want, \
                f"step {step}: pass {p} spikes {got:#x}, want {want:#x}"
        if step % config.timesteps == config.timesteps - 1:
            run = step // config.timesteps
            for p in range(2):
                if vectors["v"][run][p] is None:
                    continue
                bench.set("v_pass", p)
                want = vectors["v"][run][p]
                got = await bench.read_port("v_addr", "v_data", m, signed=True)
                assert got == want, f"step {step}: pass {p} membranes {got}, want {want}"
                want = vectors["counts"][run][p]
                got = await bench.read_port("v_addr", "count_data", m)
                assert got == want, f"step {step}: pass {p} spike counts {got}, want {want}"
    return cycles


async def _append_spikes(bench, spikes, n, appends=1):
    """Append the inputs set in ``spikes`` to a listed core's next list, shuffled (``appends``
    above 1: a random one to ``appends`` of them a cycle, in random slots); returns the cycles
    of it that the core was busy."""
    indices = [i for i in range(n) if spikes >> i & 1]
    bench.rng.shuffle(indices)
    busy = 0
    bits = max(n - 1, 1).bit_length()       # an ``append_index`` entry's width
    while indices:
        if appends == 1:
            bench.set("append", 1)
            bench.set("append_index", indices.pop())
        else:
            taken = bench.rng.randint(1, min(appends, len(indices)))
            slots = bench.rng.sample(range(appends), taken)
            bench.set("append", sum(1 << slot for slot in slots))
            bench.set("append_index", sum(indices.pop() << slot * bits for slot in slots))
        busy += bench.get("busy")
        await bench.tick()
    bench.set("append", 0)
    return busy


def lane_error_words(config, layer, errors, lanes):
    """The ``e`` words of a :class:`hw.projector.ProjectorUpdate` with ``lanes`` neuron lanes:
    word ``k`` packs row ``k`` of every lane (lane ``b``'s field the error of neuron
    ``b g + k``, two's complement; 0 past the layer's neurons); one lane: the errors."""
    if lanes == 1:
        return list(errors)
    rows, width = LIFCore.lane_rows(config, layer, lanes), config.learning.delta.width
    mask = (1 << width) - 1
    return [sum((errors[b * rows + k] & mask) << b * width
                for b in range(lanes) if b * rows + k < len(errors))
            for k in range(rows)]


async def projector_bench(bench, config, layer, vectors, lanes=1):
    """A :class:`hw.projector.ProjectorUpdate` (of ``lanes`` neuron lanes) on a served weight
    memory: per sample the presynaptic counts and errors streamed in (with idle cycles), then
    every weight word, the projected vector ``u`` and every centroid word compared. Returns
    the cycles taken."""
    words = list(vectors["init"])
    bench.serve_memory("weights", words)
    await bench.write_port("basis_addr", "basis_wdata", "basis_we", vectors["basis"])
    cycles = 0
    for index, sample in enumerate(vectors["samples"]):
        for port in ("own", "use_projector", "update_centroid", "step_shift"):
            bench.set(port, sample[port])
        for count in sample["counts"]:
            await bench.stream_put("x", count)
        for word in lane_error_words(config, layer, sample["errors"], lanes):
            await bench.stream_put("e", word)
        while not bench.get("done"):
            await bench.tick()
            cycles += 1
        await bench.tick()
        for i, (got, want) in enumerate(zip(words, sample["weights"], strict=True)):
            assert got == want, f"sample {index}: weight word {i} is {got}, want {want}"
        if sample["use_projector"]:
            u = await bench.read_port("u_raddr", "u_rdata", len(sample["u"]), signed=True)
            assert u == sample["u"], f"sample {index}: u {u}, want {sample['u']}"
        c = await bench.read_port("centroid_raddr", "centroid_rdata", len(sample["centroids"]),
                                  signed=True)
        assert c == sample["centroids"], f"sample {index}: centroids differ"
    return cycles


async def noise_bench(bench, lanes, vectors):
    """A :class:`hw.noise.NoiseGenerator`: every lane's word and sign every cycle, with the
    reseed/advance inputs of the vectors."""
    for lane in lanes:
        bench.set(f"{lane}.reseed", 0)
        bench.set(f"{lane}.advance", 0)
    for cycle, vec in enumerate(vectors["cycles"]):
        for lane, want in vec["expect"].items():
            got = {key: bench.get(f"{lane}.{key}") for key in want}
            assert got == want, f"cycle {cycle} lane {lane}: {got}, want {want}"
            for key, value in vec["inputs"][lane].items():
                bench.set(f"{lane}.{key}", value)
        await bench.tick()


async def learner_bench(bench, config, vectors, *, weights_latency, infer_every=0):
    """A :class:`hw.learner.LearnerCore` (built with zero weights) trained online: the initial
    weights and every refreshed basis written through its ports, then per sample the
    prediction, delta, first-pass outputs and every master word compared (and an INFER's
    prediction every ``infer_every`` samples); weights are read ``weights_latency`` cycles
    after their address (the learner's ``weights_read_latency``). Returns the RTL cycle
    counter per command."""
    cycles = {"train": [], "infer": []}

    async def command(which):
        bench.set("command", which)
        bench.set("start", 1)
        await bench.tick()
        bench.set("start", 0)
        await bench.wait_while("busy")
        return bench.get("cycles")

    bench.set("use_projector", vectors["use_projector"])
    bench.set("update_centroid", 1)
    for layer, words in enumerate(vectors["init"]):
        bench.set("weights.layer", layer)
        await bench.write_port("weights.addr", "weights.wdata", "weights.we", words)
    for index, sample in enumerate(vectors["samples"]):
        for layer, words in enumerate(sample["bases"] or []):
            bench.set("projector.layer", layer)
            await bench.write_port("projector.basis_addr", "projector.basis_wdata",
                                   "projector.basis_we", words)
        await bench.write_port("inputs.addr", "inputs.data", "inputs.we", sample["intensity"])
        for port in ("label", "encoder_seed", "perturb_seed", "step_shift"):
            bench.set(port, sample[port])
        if infer_every and index % infer_every == 0:
            cycles["infer"].append(await command(Command.INFER))
            assert bench.get("prediction") == sample["inferred"], f"sample {index}: inferred"
        cycles["train"].append(await command(Command.TRAIN))
        got = bench.get("prediction")
        assert got == sample["prediction"], \
            f"sample {index}: prediction {got}, want {sample['prediction']}"
        got = bench.get("delta", signed=True)
        assert got == sample["delta"], f"sample {index}: delta {got}, want {sample['delta']}"
        outputs = await bench.read_port("outputs.addr", "outputs.data", len(sample["outputs"]),
                                        signed=True)
        assert outputs == sample["outputs"], f"sample {index}: outputs {outputs}"
        for layer, want in enumerate(sample["weights"]):
            bench.set("weights.layer", layer)
            got = await bench.read_port("weights.addr", "weights.rdata", len(want), signed=True,
                                        latency=weights_latency)
            bad = [a for a, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
            assert not bad, (f"sample {index} layer {layer}: weight word {bad[0]} is "
                             f"{got[bad[0]]}, want {want[bad[0]]}")
    return cycles


async def host_bench(bench, config, rng):
    """A :class:`hw.host.HostInterface` over its byte streams, requests sent with random idle
    cycles and replies taken with random back-pressure: PING, a WRITE_WEIGHTS of random words
    read back with READ_WEIGHTS (every word), and a bad frame answered ``NAK BAD_LAYER``.
    Returns the request and reply bytes exchanged."""
    fmt = config.learning.master
    layer = config.layers - 1
    words = [rng.randint(fmt.min_raw, fmt.max_raw)
             for _ in range((config.sizes[layer] + 1) * config.sizes[layer + 1])]
    n = word_bytes(fmt)
    payload = b"".join((w & (1 << 8 * n) - 1).to_bytes(n, "little") for w in words)
    exchanges = [
        (encode(Opcode.PING), bytes([ACK]) + identity_bytes(config)),
        (encode(Opcode.WRITE_WEIGHTS, layer=layer, address=0, count=len(words)) + payload,
         bytes([ACK])),
        (encode(Opcode.READ_WEIGHTS, layer=layer, address=0, count=len(words)),
         bytes([ACK]) + payload),
        (encode(Opcode.READ_WEIGHTS, layer=config.layers, address=0, count=1),
         bytes([NAK, Error.BAD_LAYER])),
    ]
    moved = 0
    for index, (request, want) in enumerate(exchanges):
        for byte in request:
            await bench.stream_put("i", byte)
        got = bytes([await bench.stream_get("o") for _ in want])
        assert got == want, (f"exchange {index} ({Opcode(request[0]).name}): reply "
                             f"{got[:16].hex()}..., want {want[:16].hex()}...")
        moved += len(request) + len(want)
    return moved
