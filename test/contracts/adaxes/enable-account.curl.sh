curl  --header 'Adm-Authorization: HxtdAPz73OFfae7....w7lQvxjJHIbVqgkCtPtLD' \
--header 'Content-Type: application/json' \
--request POST 'https://host.example.com/restApi/api/directoryObjects/account/enable' \
--data-raw '{
    "directoryObject": "CN=John Smith,CN=Users,DC=example,DC=com"
}'
