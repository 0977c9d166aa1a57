{
  "targets": [
    {
      "target_name": "parasight",
      "sources": ["<!@(node cpp/scripts/sources.mjs)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "cpp"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden", "-O2"],
      "libraries": ["-ldl", "-lpthread", "-llzma", "-lzstd", "-llz4"]
    }
  ]
}
