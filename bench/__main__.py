import sys

if {"--cli", "--api"} & set(sys.argv[1:]):
    from bench.reads import main  # metadata reads: CLI and API (bench/README.md)
else:
    from bench.run import main  # extraction speed (the default)

raise SystemExit(main())
