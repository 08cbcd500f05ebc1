from aduan_ingest_email.main import main

main()
