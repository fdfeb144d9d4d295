"""Concord's third-party dependencies, declared without any download.

Call `concord_dependencies()` from a WORKSPACE, before anything else that loads `@rules_cc` or
`@rules_java`:

    local_repository(name = "concord", path = "path/to/concord")
    load("@concord//:concord_deps.bzl", "concord_dependencies")
    concord_dependencies()

It declares:

  * `@rules_cc`, `@rules_java`, `@remote_coverage_tools`: tiny generated stand-ins for the
    repositories that Bazel 4's built-in WORKSPACE suffix would otherwise download as soon as a C++
    test is analysed. Declaring them first makes Bazel use ours.
  * `@system_absl`: one target per Abseil pkg-config component of the Debian package
    (`@system_absl//:status` for `absl_status.pc`, ...), generated from the `.pc` files.
  * `@system_libs`: a repository over `/usr` whose BUILD file is `//third_party:system_libs.BUILD`
    (Eigen, GoogleTest/GoogleMock, RapidCheck, Google Benchmark, nlohmann-json, OpenBLAS).

Every repository is only declared if the workspace has not declared one of the same name already,
so a consumer can substitute its own. See docs/build.md.
"""

# ---------------------------------------------------------------------------------------------
# Stand-ins for Bazel's default repositories.
# ---------------------------------------------------------------------------------------------

_RULES_CC_DEFS = '''"""Forwarders to the native C++ rules (local stand-in for rules_cc, see concord_deps.bzl)."""

def cc_binary(**attrs):
    native.cc_binary(**attrs)

def cc_import(**attrs):
    native.cc_import(**attrs)

def cc_library(**attrs):
    native.cc_library(**attrs)

def cc_proto_library(**attrs):
    native.cc_proto_library(**attrs)

def cc_test(**attrs):
    native.cc_test(**attrs)

def cc_toolchain(**attrs):
    native.cc_toolchain(**attrs)

def cc_toolchain_suite(**attrs):
    native.cc_toolchain_suite(**attrs)

def fdo_prefetch_hints(**attrs):
    native.fdo_prefetch_hints(**attrs)

def fdo_profile(**attrs):
    native.fdo_profile(**attrs)

def objc_import(**attrs):
    native.objc_import(**attrs)

def objc_library(**attrs):
    native.objc_library(**attrs)
'''

_RULES_CC_BUILD = '''package(default_visibility = ["//visibility:public"])

alias(
    name = "toolchain_type",
    actual = "@bazel_tools//tools/cpp:toolchain_type",
)
'''

_RULES_JAVA_DEFS = '''"""Forwarders to the native Java rules (local stand-in for rules_java, see concord_deps.bzl)."""

def java_binary(**attrs):
    native.java_binary(**attrs)

def java_import(**attrs):
    native.java_import(**attrs)

def java_library(**attrs):
    native.java_library(**attrs)

def java_plugin(**attrs):
    native.java_plugin(**attrs)

def java_runtime(**attrs):
    native.java_runtime(**attrs)

def java_test(**attrs):
    native.java_test(**attrs)

def java_toolchain(**attrs):
    native.java_toolchain(**attrs)
'''

_REMOTE_COVERAGE_TOOLS_BUILD = '''# Local stand-in for remote_coverage_tools (see concord_deps.bzl). Empty on purpose:
# `bazel coverage` is not supported in Concord's offline build.
package(default_visibility = ["//visibility:public"])

filegroup(name = "coverage_report_generator", srcs = [])

filegroup(name = "lcov_merger", srcs = [])
'''

_STUB_FILES = {
    "rules_cc": {
        "BUILD": "",
        "cc/BUILD": _RULES_CC_BUILD,
        "cc/defs.bzl": _RULES_CC_DEFS,
    },
    "rules_java": {
        "BUILD": "",
        "java/BUILD": "",
        "java/defs.bzl": _RULES_JAVA_DEFS,
    },
    "remote_coverage_tools": {
        "BUILD": _REMOTE_COVERAGE_TOOLS_BUILD,
    },
}

def _stub_repository_impl(rctx):
    files = _STUB_FILES[rctx.attr.kind]
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    for path, content in files.items():
        rctx.file(path, content)

_stub_repository = repository_rule(
    implementation = _stub_repository_impl,
    attrs = {"kind": attr.string(mandatory = True, values = _STUB_FILES.keys())},
    doc = "A tiny generated repository that replaces one of Bazel's downloaded defaults.",
)

# ---------------------------------------------------------------------------------------------
# Abseil from the Debian package, one target per pkg-config component.
# ---------------------------------------------------------------------------------------------

def _substitute(value, variables):
    for name, replacement in variables.items():
        value = value.replace("${%s}" % name, replacement)
    return value

def _parse_pc(content):
    """Returns (variables, fields) of a pkg-config file; `${var}` references are expanded."""
    variables = {}
    fields = {}
    for raw_line in content.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        colon = line.find(":")
        equals = line.find("=")
        if equals != -1 and (colon == -1 or equals < colon):
            variables[line[:equals].strip()] = _substitute(line[equals + 1:].strip(), variables)
        elif colon != -1:
            fields[line[:colon].strip()] = _substitute(line[colon + 1:].strip(), variables)
    return variables, fields

def _parse_requires(value):
    """`absl_a = 1, absl_b >= 2` -> ["absl_a", "absl_b"]."""
    names = []
    for item in value.split(","):
        words = item.strip().split(" ")
        if words and words[0]:
            names.append(words[0])
    return names

def _starlark_list(items):
    return "[" + ", ".join(['"%s"' % item for item in items]) + "]"

def _system_absl_impl(rctx):
    pc_dir = rctx.path(rctx.attr.pkgconfig_dir)
    if not pc_dir.exists:
        fail("system_absl: %s does not exist; install libabsl-dev (./bazelw does)." % pc_dir)
    by_name = {
        f.basename: f
        for f in pc_dir.readdir()
        if f.basename.startswith("absl_") and f.basename.endswith(".pc")
    }
    pc_files = [by_name[name] for name in sorted(by_name)]
    if not pc_files:
        fail("system_absl: no absl_*.pc in %s; install libabsl-dev (./bazelw does)." % pc_dir)

    imports = {}  # library name (without lib prefix) -> cc_import stanza
    components = []
    for pc in pc_files:
        component = pc.basename[len("absl_"):-len(".pc")]
        variables, fields = _parse_pc(rctx.read(pc))
        libdir = variables.get("libdir", "/usr/lib")

        deps = []
        for required in _parse_requires(fields.get("Requires", "")) + \
                        _parse_requires(fields.get("Requires.private", "")):
            if not required.startswith("absl_"):
                fail("system_absl: %s requires non-Abseil package %s" % (pc.basename, required))
            deps.append(":" + required[len("absl_"):])

        linkopts = []
        for flag in (fields.get("Libs", "") + " " + fields.get("Libs.private", "")).split(" "):
            if not flag or flag.startswith("-L"):
                continue
            if flag.startswith("-labsl_"):
                library = flag[len("-l"):]
                import_name = "lib" + library
                if import_name not in imports:
                    imports[import_name] = _absl_import(rctx, import_name, libdir)
                deps.insert(0, ":" + import_name)
            else:
                linkopts.append(flag)

        defines = [f[len("-D"):] for f in fields.get("Cflags", "").split(" ") if f.startswith("-D")]

        components.append("""cc_library(
    name = "{name}",
    deps = {deps},
    defines = {defines},
    linkopts = {linkopts},
)
""".format(
            name = component,
            deps = _starlark_list(deps),
            defines = _starlark_list(defines),
            linkopts = _starlark_list(linkopts + (["-pthread"] if linkopts or deps else [])),
        ))

    header = """# Generated by concord_deps.bzl (system_absl) from {pc_dir}/absl_*.pc.
# One cc_library per pkg-config component, named as the .pc file without "absl_";
# deps follow each component's Requires line. Headers come from the system include path.
# Libraries are linked {linkage}.

package(default_visibility = ["//visibility:public"])

""".format(pc_dir = pc_dir, linkage = rctx.attr.linkage)
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.file("BUILD", header + "\n".join([imports[k] for k in sorted(imports)] + components))

def _absl_import(rctx, import_name, libdir):
    """Symlinks one Abseil library into the repository and returns its cc_import stanza."""
    static = rctx.path("%s/%s.a" % (libdir, import_name))
    shared = rctx.path("%s/%s.so" % (libdir, import_name))
    if rctx.attr.linkage == "static" and static.exists:
        rctx.symlink(static, "lib/%s.a" % import_name)
        attribute = 'static_library = "lib/%s.a"' % import_name
    elif shared.exists:
        rctx.symlink(shared, "lib/%s.so" % import_name)
        attribute = 'shared_library = "lib/%s.so"' % import_name
    else:
        fail("system_absl: neither %s nor %s exists" % (static, shared))
    return """cc_import(
    name = "{name}",
    {attribute},
    visibility = ["//visibility:private"],
)
""".format(name = import_name, attribute = attribute)

_system_absl = repository_rule(
    implementation = _system_absl_impl,
    attrs = {
        "pkgconfig_dir": attr.string(default = "/usr/lib/x86_64-linux-gnu/pkgconfig"),
        "linkage": attr.string(default = "static", values = ["static", "shared"]),
    },
    local = True,
    doc = "Abseil from the system, one cc_library per absl_*.pc pkg-config component.",
)

# ---------------------------------------------------------------------------------------------
# The macro.
# ---------------------------------------------------------------------------------------------

def _maybe(repo_rule, name, **kwargs):
    if not native.existing_rule(name):
        repo_rule(name = name, **kwargs)

def concord_dependencies(absl_linkage = "static"):
    """Declares every external repository Concord's BUILD files use; downloads nothing.

    Args:
      absl_linkage: "static" (default) links Abseil's .a archives, "shared" its .so files.
    """
    _maybe(_stub_repository, name = "rules_cc", kind = "rules_cc")
    _maybe(_stub_repository, name = "rules_java", kind = "rules_java")
    _maybe(_stub_repository, name = "remote_coverage_tools", kind = "remote_coverage_tools")
    _maybe(_system_absl, name = "system_absl", linkage = absl_linkage)
    _maybe(
        native.new_local_repository,
        name = "system_libs",
        path = "/usr",
        build_file = str(Label("//third_party:system_libs.BUILD")),
    )
