import wdk.compiler


def test_public_names_are_pinned() -> None:
    assert wdk.compiler.__all__ == [
        "BuildResult",
        "Diagnostic",
        "ModuleResult",
        "StepInfo",
        "WorkflowInfo",
        "build_manifest",
        "build_tree",
        "compile_source",
        "default_cache_dir",
        "dump_manifest",
        "load_module",
        "module_relpath",
        "step_id",
        "workflow_id",
    ]
    assert wdk.compiler.__all__ == sorted(wdk.compiler.__all__)
    for name in wdk.compiler.__all__:
        assert getattr(wdk.compiler, name).__doc__
