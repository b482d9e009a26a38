import sys

if "--remote" in sys.argv[1:]:
    from bench.remote import main  # extraction from Azure Blob through a latency proxy (bench/README.md)
elif {"--cli", "--api"} & set(sys.argv[1:]):
    from bench.reads import main  # metadata reads: CLI and API (bench/README.md)
elif "--incremental" in sys.argv[1:]:
    from bench.incremental import main  # refresh: incremental (bench/README.md, "Incremental runs")
else:
    from bench.run import main  # extraction speed (the default)

raise SystemExit(main())
