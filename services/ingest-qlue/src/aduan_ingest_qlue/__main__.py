from aduan_ingest_qlue.main import main

main()
