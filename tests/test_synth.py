# amaranth: UnusedElaboratable=no
"""A real bitstream build in CI: the noise generator on iCE40UP5K (yosys + nextpnr + icepack)."""

import json

import pytest

from boards.synth import BLOCKS, DEVICES, IOHarness, synthesise


def test_noise_bitstream_for_up5k(tmp_path):
    result = synthesise("noise", "up5k", pack=True, build_root=tmp_path)
    assert result["cells"]["LUT"] > 100 and result["cells"]["FF"] >= 64   # two 32-bit lanes
    assert result["timing_met"], result["fmax_mhz"]
    bitstream = tmp_path / "noise-up5k" / "top.bin"
    assert bitstream.stat().st_size > 100_000                              # a full UP5K image
    assert json.loads((tmp_path / "noise-up5k" / "result.json").read_text()) == result


@pytest.mark.slow
@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("device", sorted(DEVICES))
def test_every_block_places_and_routes(block, device, tmp_path):
    result = synthesise(block, device, build_root=tmp_path)
    assert result["fmax_mhz"]


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match=r"^Unknown block 'cpu'; choose from "):
        synthesise("cpu", "up5k")
    with pytest.raises(ValueError, match=r"^Unknown device 'xc7'; choose from "):
        synthesise("noise", "xc7")


def test_harness_elaborates_every_block():
    from amaranth.back import rtlil
    for make in BLOCKS.values():
        harness = IOHarness(make())
        assert "module" in rtlil.convert(harness, ports=[harness.din, harness.dout])
