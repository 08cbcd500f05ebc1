from aduan_ingest_sms.main import main

main()
