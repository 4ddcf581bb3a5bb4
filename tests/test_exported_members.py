import types

import polaretl as pe


def test_all_is_the_sorted_public_names():
    public = sorted(
        name
        for name, value in vars(pe).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)  # subpackages appear once imported
        and name != "annotations"
    )
    assert pe.__all__ == sorted(pe.__all__)
    assert pe.__all__ == public
