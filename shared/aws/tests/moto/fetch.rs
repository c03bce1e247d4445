//! The SQS transfer queue of `upload_url`.

use cloudrun_aws::fetch::{SqsFetcher, TransferRequest};
use cloudrun_core::ports::UrlFetcher;
use cloudrun_core::run::Id;

use crate::helpers::deployment;

#[tokio::test]
async fn enqueue_sends_one_message() {
    let (deployment, clients) = deployment().await;
    let queue = &deployment.settings.fetch_queue_url;
    let fetcher = SqsFetcher::new(clients.sqs.clone(), queue);
    let (run, fileid) = (Id::new_random(), Id::new_random());
    fetcher.enqueue(&run, &fileid, "wrfbdy_d01", "https://example.com/wrfbdy_d01").await.expect("enqueue");

    let received = clients.sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.expect("receive");
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    let request: TransferRequest = serde_json::from_str(messages[0].body().expect("body")).expect("a transfer request");
    assert_eq!(request.run_id, run);
    assert_eq!(request.fileid, fileid);
    assert_eq!(request.filename, "wrfbdy_d01");
    assert_eq!(request.url, "https://example.com/wrfbdy_d01");
}
