from aduan_ingest_twitter.main import main

main()
