import polaretl as pe


def test_all_is_the_sorted_public_names():
    public = sorted(
        name
        for name in vars(pe)
        if not name.startswith("_")
        and name
        not in {
            "annotations",
            "api",
            "cli",
            "db",
            "errors",
            "extract",
            "load",
            "pipeline",
            "record",
            "redact",
            "run",
            "transform",
            "validate",
            "workspace",
        }
    )
    assert pe.__all__ == sorted(pe.__all__)
    assert sorted(pe.__all__) == public
