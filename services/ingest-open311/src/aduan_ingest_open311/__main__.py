from aduan_ingest_open311.main import main

main()
