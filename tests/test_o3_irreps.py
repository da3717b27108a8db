"""mlip.o3.Irreps parsing/value semantics and tensor_product_paths selection rules."""
import pytest

from mlip.o3 import Irreps, tensor_product_paths


@pytest.mark.parametrize(
    "text, canonical, dim",
    [
        ("32x0e + 32x1o + 32x2e", "32x0e+32x1o+32x2e", 32 * 1 + 32 * 3 + 32 * 5),
        ("0e+1o", "1x0e+1x1o", 4),
        ("  3x2y + 1x1y ", "3x2e+1x1o", 18),
        ("4 x 3o", "4x3o", 28),
        ("0x1e", "0x1e", 0),
        ("", "", 0),
    ],
)
def test_parse_str_round_trip_and_dim(text, canonical, dim):
    irreps = Irreps(text)
    assert str(irreps) == canonical
    assert Irreps(str(irreps)) == irreps
    assert eval(repr(irreps), {"Irreps": Irreps}) == irreps
    assert irreps.dim == dim


@pytest.mark.parametrize("bad_token", ["32x", "3xa", "x0e", "-1e", "1.5x0e", "2x1", "0E", "1o1e"])
def test_bad_strings_raise_value_error_naming_the_token(bad_token):
    with pytest.raises(ValueError, match=repr(bad_token).replace(".", r"\.")):
        Irreps(f"8x0e + {bad_token} + 8x1o")


def test_empty_token_between_plus_signs_raises_value_error():
    with pytest.raises(ValueError, match="''"):
        Irreps("0e + + 1o")


def test_iteration_indexing_slices_and_ls():
    irreps = Irreps("2x0e + 3x1o + 1x2e")
    assert list(irreps) == [(2, 0, 1), (3, 1, -1), (1, 2, 1)]
    assert len(irreps) == 3 and irreps[1] == (3, 1, -1)
    assert irreps[1:] == Irreps("3x1o + 2e")
    assert irreps.slices() == [slice(0, 2), slice(2, 11), slice(11, 16)]
    assert irreps.ls == [0, 0, 1, 1, 1, 2]
    assert irreps.num_irreps == 6 and irreps.lmax == 2
    assert irreps.is_natural_parity and not Irreps("1e").is_natural_parity


def test_natural_layout_matches_spherical_harmonics_width():
    irreps = Irreps.natural(3)
    assert irreps == Irreps("0e + 1o + 2e + 3o") == "0e+1o+2e+3o"
    assert irreps.dim == 16
    assert [s.stop - s.start for s in irreps.slices()] == [1, 3, 5, 7]
    assert Irreps.natural(1, mul=8) == Irreps("8x0e + 8x1o")


def test_value_semantics_equality_hash_immutability_and_concatenation():
    a, b = Irreps("8x0e+8x1o"), Irreps([(8, 0, 1), (8, 1, -1)])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Irreps("8x1o+8x0e") and a != "not irreps"
    assert a + "2e" == Irreps("8x0e+8x1o+1x2e")
    with pytest.raises(AttributeError):
        a._entries = ()
    with pytest.raises(ValueError, match="parity"):
        Irreps([(1, 0, 0)])


def test_paths_with_parity_keep_only_even_l1_plus_l2_plus_l3():
    expected = [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0)]
    assert tensor_product_paths(1, 1, 1, parity=True) == expected
    paths = tensor_product_paths(2, 2, 2, parity=True)
    assert (1, 1, 1) not in paths and (2, 1, 2) not in paths and (1, 1, 2) in paths
    assert all((l1 + l2 + l3) % 2 == 0 for l1, l2, l3 in paths)
    assert paths == [
        (0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 1), (1, 1, 0), (1, 1, 2),
        (1, 2, 1), (2, 0, 2), (2, 1, 1), (2, 2, 0), (2, 2, 2),
    ]


def test_paths_without_parity_are_all_triangle_triples():
    assert tensor_product_paths(1, 1, 1, parity=False) == [
        (0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 1)
    ]
    paths = tensor_product_paths(2, 1, 3, parity=False)
    expected = [(l1, l2, l3) for l1 in range(3) for l2 in range(2) for l3 in range(4)
                if abs(l1 - l2) <= l3 <= l1 + l2]
    assert paths == expected and (2, 1, 3) in paths and len(paths) == 10
    assert tensor_product_paths(0, 3, 0, parity=False) == [(0, 0, 0)]


def test_paths_reject_negative_l_max():
    with pytest.raises(ValueError, match="l_max_sh"):
        tensor_product_paths(1, -1, 1, parity=True)
